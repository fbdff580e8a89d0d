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
}
