import Foundation
import HummingbirdWSClient
import Logging
import SwitchboardCore
import Synchronization
import Twilio

/// Twilio's side of ConversationRelay for a simulated call: connects to the `<ConversationRelay
/// url>` with a signed upgrade, sends `setup`, collects the agent's `text` tokens into what is
/// said (a turn ends at `last`), answers each turn with the scripted caller's next answer (words
/// as a final `prompt`, keys as `dtmf`, silence as an empty prompt; each after the configured
/// answer delay), and stops at the agent's `end`, returning its `handoffData`, or when the socket
/// breaks (then without: the call goes on to the `<Connect action>` all the same).
struct RelaySession {
    let session: CallSession

    func run(url: String) async -> (handoff: String?, seconds: Int) {
        let call = session.call
        let signature = TwilioSignature.compute(url: url, parameters: FormParameters(), authToken: session.token)
        var configuration = WebSocketClientConfiguration(maxFrameSize: ConversationRelay.maxMessageBytes)
        configuration.additionalHeaders[.init("X-Twilio-Signature")!] = signature
        let result = Outcome()
        let simulator = session.simulator
        do {
            try await WebSocketClient.connect(url: url, configuration: configuration, logger: simulator.logger) {
                inbound, outbound, _ in
                let setup: JSONValue = .object([
                    "type": .string("setup"), "sessionId": .string("VX" + call.resource.sid.dropFirst(2)),
                    "callSid": .string(call.resource.sid), "accountSid": .string(call.resource.accountSid ?? ""),
                    "from": .string(call.resource.from), "to": .string(call.resource.to),
                    "direction": .string("outbound-api"), "customParameters": .object([:]),
                ])
                try await outbound.write(.text(setup.jsonText))
                var spoken = ""
                for try await message in inbound.messages(maxSize: ConversationRelay.maxMessageBytes) {
                    guard case .text(let text) = message,
                        case .object(let object)? = try? JSONDecoder().decode(
                            JSONValue.self, from: Data(text.utf8))
                    else { continue }
                    switch object["type"]?.stringValue {
                    case "text":
                        let token = object["token"]?.stringValue ?? ""
                        let last = object["last"] == .bool(true)
                        await simulator.state.appendToken(
                            sid: call.resource.sid, ReceivedToken(token: token, last: last, at: .now))
                        result.state.withLock { $0.unanswered = false }
                        let first = spoken.isEmpty
                        spoken += token
                        if first, !last,
                            case .interrupting(let words) = await simulator.state.peekAnswer(
                                for: call.person)
                        {
                            // The caller speaks over the answer's first words.
                            _ = await simulator.state.nextAnswer(for: call.person)
                            await session.note(.interrupted(heard: spoken))
                            try await outbound.write(
                                .text(
                                    JSONValue.object([
                                        "type": .string("interrupt"), "utteranceUntilInterrupt": .string(spoken),
                                        "durationUntilInterruptMs": .string("\(max(200, spoken.count * 60))"),
                                    ]).jsonText))
                            await session.note(.gathered(speech: words, digits: nil))
                            try await outbound.write(.text(ConversationRelay.finalPrompt(words)))
                            result.state.withLock { $0.unanswered = true }
                            // Twilio stopped speaking; whatever the agent sends next is said (an
                            // agent that went on with the old answer would be heard doing so).
                            spoken = ""
                            continue
                        }
                        guard last else { continue }
                        await session.note(.said(spoken))
                        result.state.withLock { $0.seconds += max(1, spoken.count / 15) }
                        spoken = ""
                        if simulator.configuration.answerDelay > .zero {
                            try? await Task.sleep(for: simulator.configuration.answerDelay)
                        }
                        result.state.withLock { $0.unanswered = true }
                        switch await simulator.state.nextAnswer(for: call.person) {
                        case .speech(let words, _), .interrupting(let words):
                            await session.note(.gathered(speech: words, digits: nil))
                            try await outbound.write(.text(ConversationRelay.finalPrompt(words)))
                        case .digits(let digits):
                            await session.note(.gathered(speech: nil, digits: digits))
                            for digit in digits {
                                try await outbound.write(
                                    .text(
                                        JSONValue.object(["type": .string("dtmf"), "digit": .string(String(digit))])
                                            .jsonText))
                            }
                        case .silence:
                            await session.note(.silence)
                            try await outbound.write(.text(ConversationRelay.finalPrompt("")))
                        }
                    case "end":
                        result.state.withLock { $0.handoff = object["handoffData"]?.stringValue }
                        return
                    default:
                        continue
                    }
                }
            }
        } catch {
            await session.note(.error(code: 64105, detail: "ConversationRelay socket: \(error)"))
        }
        let (handoff, seconds, unanswered) = result.state.withLock { ($0.handoff, $0.seconds, $0.unanswered) }
        // The agent never answered the caller's last words: the caller says them again when asked.
        if unanswered { await simulator.state.repeatLastAnswer(for: call.person) }
        return (handoff, seconds)
    }

    /// What the socket's handler found (it runs as a closure of its own).
    final class Outcome: Sendable {
        /// `unanswered`: an answer was sent and nothing said since (it is lost if the socket ends).
        let state = Mutex<(handoff: String?, seconds: Int, unanswered: Bool)>((nil, 0, false))
    }
}
