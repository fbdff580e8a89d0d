import AsyncHTTPClient
import Foundation
import NIOCore
import Twilio

/// Plays a call's TwiML like Twilio: `<Say>`, `<Play>`, `<Pause>`, `<Gather>` (answered by the
/// scripted caller), `<Record>`, `<Redirect>`, `<Hangup>`, fetching each next document from the
/// webhook with Twilio's signed form parameters. Stops after `maxSteps` documents (a loop guard).
struct CallSession {
    let simulator: TwilioSimulator
    let call: SimulatedCall
    let token: String
    let maxSteps = 50

    /// Runs the call to its end; returns how many seconds it "lasted".
    func run() async -> Int {
        var seconds = 0
        var documentURL = call.url
        var document: String?
        if let twiml = call.twiml {
            document = twiml
        } else if let url = call.url {
            document = await fetch(url, extra: FormParameters())
        }
        var steps = 0
        while let xml = document, steps < maxSteps {
            steps += 1
            guard let root = TwiMLElement.parse(xml) else {
                await note(.error(code: 12100, detail: "document parse failure"))
                return seconds
            }
            document = nil
            verbs: for verb in root.children {
                switch verb.name {
                case "Say":
                    await note(.said(verb.text))
                    seconds += max(1, verb.text.count / 15)
                case "Play":
                    await note(.played(verb.text))
                    seconds += 3
                case "Pause":
                    seconds += Int(verb.attributes["length"] ?? "1") ?? 1
                case "Gather":
                    for nested in verb.children where nested.name == "Say" { await note(.said(nested.text)) }
                    if simulator.configuration.answerDelay > .zero {
                        try? await Task.sleep(for: simulator.configuration.answerDelay)
                    }
                    let answer = await simulator.state.nextAnswer(for: call.person)
                    var parameters = FormParameters()
                    switch answer {
                    case .speech(let text, let confidence):
                        await note(.gathered(speech: text, digits: nil))
                        parameters.append("SpeechResult", text)
                        parameters.append("Confidence", String(confidence))
                    case .interrupting(let text):
                        await note(.gathered(speech: text, digits: nil))
                        parameters.append("SpeechResult", text)
                        parameters.append("Confidence", "0.92")
                    case .digits(let digits):
                        await note(.gathered(speech: nil, digits: digits))
                        parameters.append("Digits", digits)
                    case .silence:
                        await note(.silence)
                        seconds += Int(verb.attributes["timeout"] ?? "5") ?? 5
                        guard verb.attributes["actionOnEmptyResult"] == "true" else { continue verbs }
                    }
                    seconds += 3
                    guard let target = resolve(verb.attributes["action"], against: documentURL) else {
                        await note(.error(code: 11200, detail: "Gather has no action and the document has no URL"))
                        return seconds
                    }
                    documentURL = target
                    document = await fetch(target, extra: parameters)
                    break verbs
                case "Record":
                    await note(.recorded)
                    seconds += 5
                    guard let target = resolve(verb.attributes["action"], against: documentURL) else { continue verbs }
                    var parameters = FormParameters()
                    parameters.append(
                        "RecordingUrl",
                        "https://api.twilio.com/2010-04-01/Accounts/\(call.resource.accountSid ?? "")/Recordings/RE0")
                    parameters.append("RecordingDuration", "5")
                    parameters.append("Digits", "hangup")
                    documentURL = target
                    document = await fetch(target, extra: parameters)
                    break verbs
                case "Redirect":
                    guard let target = resolve(verb.text, against: documentURL) else { return seconds }
                    documentURL = target
                    document = await fetch(target, extra: FormParameters())
                    break verbs
                case "Connect":
                    guard let relay = verb.children.first(where: { $0.name == "ConversationRelay" }),
                        let socket = relay.attributes["url"]
                    else {
                        await note(.error(code: 12200, detail: "<Connect> without <ConversationRelay url>"))
                        return seconds
                    }
                    let (handoff, talked) = await RelaySession(session: self).run(url: socket)
                    seconds += talked
                    // Twilio then requests the <Connect action>, if any, and goes on with its TwiML.
                    guard let target = resolve(verb.attributes["action"], against: documentURL) else { continue verbs }
                    var parameters = FormParameters()
                    parameters.append("HandoffData", handoff)
                    documentURL = target
                    document = await fetch(target, extra: parameters)
                    break verbs
                case "Start":
                    // <Start><Recording>: the call is recorded from here on.
                    if let recording = verb.children.first(where: { $0.name == "Recording" }) {
                        await simulator.state.startRecording(
                            sid: call.resource.sid, callback: recording.attributes["recordingStatusCallback"],
                            channels: recording.attributes["channels"])
                    }
                case "Dial":
                    // The person dialled talks with the caller for a while; with no `action`, the
                    // call then goes on with the next verb (none: it ends).
                    let number = verb.children.first(where: { $0.name == "Number" })?.text ?? verb.text
                    await note(.dialed(number.trimmingCharacters(in: .whitespacesAndNewlines)))
                    seconds += 30
                case "Hangup", "Reject":
                    await note(.hungUp)
                    return seconds
                default:
                    await note(.error(code: 12200, detail: "unknown verb <\(verb.name)>"))
                }
            }
        }
        await note(.hungUp)
        return seconds
    }

    func note(_ event: CallEvent) async {
        if case .error(let code, let detail) = event {
            // What Twilio's debugger would show for this call.
            simulator.logger.warning(
                "call TwiML error",
                metadata: ["call.sid": "\(call.resource.sid)", "code": "\(code)", "detail": "\(detail)"])
        }
        await simulator.state.appendEvent(sid: call.resource.sid, event)
    }

    private func resolve(_ target: String?, against base: String?) -> String? {
        guard let target, !target.isEmpty else { return base }
        if target.hasPrefix("http://") || target.hasPrefix("https://") { return target }
        guard let base, let url = URL(string: target, relativeTo: URL(string: base)) else { return nil }
        return url.absoluteString
    }

    /// POSTs Twilio's voice parameters (plus `extra`) to `url`, signed; returns the TwiML.
    private func fetch(_ url: String, extra: FormParameters) async -> String? {
        await note(.fetched(url: url))
        var parameters = FormParameters()
        parameters.append("AccountSid", call.resource.accountSid)
        parameters.append("CallSid", call.resource.sid)
        parameters.append("From", call.resource.from)
        parameters.append("To", call.resource.to)
        parameters.append("CallStatus", "in-progress")
        parameters.append("Direction", call.direction)
        parameters.append("ApiVersion", "2010-04-01")
        for pair in extra.pairs { parameters.append(pair.name, pair.value) }
        do {
            let answer = try await SignedWebhook.post(url, parameters: parameters, authToken: token)
            guard (200..<300).contains(answer.status) else {
                await note(.error(code: 11200, detail: "HTTP \(answer.status) from \(url)"))
                return nil
            }
            return answer.body
        } catch {
            await note(.error(code: 11200, detail: "\(error)"))
            return nil
        }
    }
}
