import Foundation
import Hummingbird
import SwitchboardCore
import TestSupport
import Testing
import Twilio
import TwilioSimulator

/// A voice webhook on loopback: answers the first request with a question and each Gather
/// action with a reply naming what was heard; checks every request's signature.
final class VoiceApp: Sendable {
    let port = Locked<Int?>(nil)
    let requests = Locked([(path: String, form: FormParameters, signatureValid: Bool)]())

    func start() async throws -> ServiceTask {
        let router = Router()
        router.post("voice/:step") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let form = FormParameters.decode(String(buffer: body)) ?? FormParameters()
            let url = "http://127.0.0.1:\(self.port.value!)" + request.uri.path
            let valid = TwilioSignature.isValid(
                signature: request.headers[.init("X-Twilio-Signature")!] ?? "", url: url, parameters: form,
                authToken: authToken)
            self.requests.withLock { $0.append((request.uri.path, form, valid)) }
            let twiml: String
            switch context.parameters.get("step") {
            case "start":
                twiml =
                    #"<Response><Gather input="speech dtmf" action="/voice/answer"><Say>What is your name?</Say></Gather><Say>We did not hear you.</Say></Response>"#
            default:
                let heard = form["SpeechResult"] ?? form["Digits"] ?? "nothing"
                twiml = "<Response><Say>Thanks, \(heard).</Say><Hangup/></Response>"
            }
            return Response(
                status: .ok, headers: [.contentType: "text/xml"], body: .init(byteBuffer: ByteBuffer(string: twiml)))
        }
        return try await serveOnLoopback(router, port: port)
    }

    var url: String { "http://127.0.0.1:\(port.value!)/voice/start" }
}

@Suite struct VoiceSimulationTests {
    @Test func inlineTwiMLIsSpokenAndTheCallCompletes() async throws {
        try await withSimulator { simulator, client in
            let (call, _) = try await client.createCall(
                .init(
                    to: "+15551230001", from: "+15557654321",
                    twiml: "<Response><Say voice=\"woman\">Hello there</Say></Response>"),
                credentials: credentials)
            #expect(await eventually { await simulator.calls().first?.resource.status == "completed" })
            let recorded = try #require(await simulator.calls().first { $0.resource.sid == call.sid })
            #expect(recorded.transcript == [.said("Hello there"), .hungUp])
            #expect(recorded.resource.duration != nil)
        }
    }

    @Test func gatherIsAnsweredByTheScriptedCallerAndTheActionIsFetched() async throws {
        let app = VoiceApp()
        let server = try await app.start()
        defer { server.stop() }
        try await withSimulator(configure: {
            $0.callers["+15551230001"] = [.speech("Ana", confidence: 0.87)]
            $0.callers["+15551230002"] = [.digits("42")]
        }) { simulator, client in
            _ = try await client.createCall(
                .init(to: "+15551230001", from: "+15557654321", url: app.url), credentials: credentials)
            _ = try await client.createCall(
                .init(to: "+15551230002", from: "+15557654321", url: app.url), credentials: credentials)
            _ = try await client.createCall(
                .init(to: "+15551230003", from: "+15557654321", url: app.url), credentials: credentials)
            #expect(await eventually { await simulator.calls().allSatisfy { $0.resource.status == "completed" } })
            let calls = await simulator.calls()
            let speech = calls.first { $0.resource.to == "+15551230001" }!.transcript
            #expect(
                speech == [
                    .fetched(url: app.url), .said("What is your name?"), .gathered(speech: "Ana", digits: nil),
                    .fetched(url: app.url.replacingOccurrences(of: "/voice/start", with: "/voice/answer")),
                    .said("Thanks, Ana."), .hungUp,
                ])
            let digits = calls.first { $0.resource.to == "+15551230002" }!.transcript
            #expect(digits.contains(.said("Thanks, 42.")))
            let silent = calls.first { $0.resource.to == "+15551230003" }!.transcript
            #expect(
                silent == [
                    .fetched(url: app.url), .said("What is your name?"), .silence, .said("We did not hear you."),
                    .hungUp,
                ])
            let requests = app.requests.value
            #expect(requests.allSatisfy { $0.signatureValid })
            let answer = requests.first { $0.form["SpeechResult"] != nil }
            #expect(answer?.form["Confidence"] == "0.87")
            #expect(answer?.form["CallStatus"] == "in-progress")
            #expect(answer?.form["AccountSid"] == accountSID)
        }
    }

    @Test func brokenTwiMLIsReported() async throws {
        try await withSimulator { simulator, client in
            _ = try await client.createCall(
                .init(to: "+15551230001", from: "+15557654321", twiml: "<Response><Say>unclosed"),
                credentials: credentials)
            #expect(await eventually { await simulator.calls().first?.resource.status == "completed" })
            #expect(
                await simulator.calls().first?.transcript.first == .error(code: 12100, detail: "document parse failure")
            )
        }
    }
}
