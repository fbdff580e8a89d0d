import Foundation
import SwitchboardCore
import Testing

/// `transport` on voice-agent jobs: gather by default, relay when asked, anything else refused
/// with the field named; and the relay's TwiML.
@Suite struct VoiceTransportTests {
    static func request(_ transport: String?, llm: Bool = false) throws -> VoiceAgentRequest {
        let questions = try JSONDecoder().decode(JSONValue.self, from: Data(ExampleFlows.survey.utf8))
        var request = VoiceAgentRequest(account: "main", to: "+15550001234", from: "+15557654321", questions: questions)
        if llm {
            request.agentType = "llm"
            request.questions = nil
            request.model = "gpt-4o-mini"
            request.systemPrompt = "Be brief."
        }
        request.transport = transport
        return request
    }

    @Test func gatherByDefaultRelayWhenAsked() throws {
        #expect(try Self.request(nil).resolve().transport == nil)
        #expect(try Self.request("gather").resolve().transport == .gather)
        #expect(try Self.request("relay").resolve().transport == .relay)
    }

    @Test func llmAgentsTakeTheRelayWhenThePublicURLIsHTTPS() throws {
        let https = "https://hooks.example.com"
        let http = "http://127.0.0.1:8080"
        #expect(try Self.request(nil, llm: true).resolve().transport(publicURL: https) == .relay)
        #expect(try Self.request(nil, llm: true).resolve().transport(publicURL: "HTTPS://hooks.example.com") == .relay)
        #expect(try Self.request(nil, llm: true).resolve().transport(publicURL: http) == .gather, "no wss:// over http")
        #expect(try Self.request(nil).resolve().transport(publicURL: https) == .gather, "questions agents: gather")
        #expect(try Self.request("gather", llm: true).resolve().transport(publicURL: https) == .gather, "as asked")
        #expect(try Self.request("relay").resolve().transport(publicURL: http) == .relay, "as asked")
    }

    @Test(arguments: [("carrier-pigeon", false), ("RELAY", false), ("", true)])
    func refusedTransportsNameTheField(transport: String, llm: Bool) throws {
        let error = #expect(throws: InputError.self) { try Self.request(transport, llm: llm).resolve() }
        #expect(error?.field == "transport", "\(String(describing: error))")
    }

    @Test func bothAgentTypesTakeTheRelay() throws {
        #expect(try Self.request("relay", llm: true).resolve().transport == .relay)
    }

    @Test func theRelayTwiMLConnectsTheSocketWithItsAction() {
        let twiml = TwiML.conversationRelay(
            url: "wss://hooks.example.com/twilio/relay/7?AccountSid=AC1&x=\"<y>\"",
            action: "https://hooks.example.com/twilio/relay/7/ended", voice: "Polly.Joanna", language: "en-US")
        #expect(twiml.hasPrefix("<?xml"))
        #expect(twiml.contains(#"<Connect action="https://hooks.example.com/twilio/relay/7/ended" method="POST">"#))
        #expect(
            twiml.contains(
                #"<ConversationRelay url="wss://hooks.example.com/twilio/relay/7?AccountSid=AC1&amp;x=&quot;&lt;y&gt;&quot;""#
            ))
        #expect(twiml.contains(#"dtmfDetection="true""#) && twiml.hasSuffix("</Connect></Response>"))
    }

    @Test func relaySettingsGoIntoTheTwiMLEscaped() throws {
        var request = try Self.request("relay")
        request.interruptible = "speech"
        request.ttsProvider = "ElevenLabs"
        request.transcriptionProvider = "Deepgram"
        request.speechModel = "nova-3-general"
        request.hints = "Acme, \"Switchboard\" & co"
        let spec = try request.resolve()
        let twiml = TwiML.conversationRelay(
            url: "wss://hooks.example.com/twilio/relay/1", action: "https://hooks.example.com/twilio/relay/1/ended",
            voice: spec.voice, language: spec.language, settings: spec.relay)
        #expect(twiml.contains(#" interruptible="speech" ttsProvider="ElevenLabs" transcriptionProvider="Deepgram""#))
        #expect(twiml.contains(#" speechModel="nova-3-general" hints="Acme, &quot;Switchboard&quot; &amp; co"/>"#))
        let plain = TwiML.conversationRelay(url: "wss://h/r", action: "https://h/a", voice: "v", language: "en-US")
        #expect(plain.contains(#"dtmfDetection="true" interruptible="any"/>"#), "Twilio's default, said")
    }

    @Test(arguments: [
        ("interruptible", "sometimes"), ("ttsProvider", "Eleven Labs"), ("transcriptionProvider", ""),
        ("speechModel", "nova 3"), ("hints", String(repeating: "x", count: 501)), ("hints", "a\u{0007}b"),
    ])
    func badRelaySettingsAreRefusedNamingTheField(field: String, value: String) throws {
        var request = try Self.request("relay")
        switch field {
        case "interruptible": request.interruptible = value
        case "ttsProvider": request.ttsProvider = value
        case "transcriptionProvider": request.transcriptionProvider = value
        case "speechModel": request.speechModel = value
        default: request.hints = value
        }
        let error = #expect(throws: InputError.self) { try request.resolve() }
        #expect(error?.field == field, "\(String(describing: error))")
    }

    @Test func relaySettingsOnAGatherCallAreRefused() throws {
        var request = try Self.request("gather")
        request.ttsProvider = "Google"
        let error = #expect(throws: InputError.self) { try request.resolve() }
        #expect(
            error?.field == "ttsProvider" && error?.problem.contains("relay") == true, "\(String(describing: error))")
        // Without a transport (it may become the relay), they are kept.
        var open = try Self.request(nil, llm: true)
        open.interruptible = "none"
        #expect(try open.resolve().relay?.interruptible == "none")
    }
}
