import SwitchboardCore
import Testing

/// ConversationRelay's protocol, with the traps realtime-voice.md §1.1 lists: string durations,
/// unknown types, interim prompts; and replies that carry only protocol fields (error 64107).
@Suite struct ConversationRelayTests {
    typealias Relay = ConversationRelay

    @Test func setupCarriesTheCallAndItsParameters() throws {
        let event = try Relay.parse(
            #"{"type":"setup","sessionId":"VX1","callSid":"CA1","from":"+15550001","to":"+15550002","#
                + #""direction":"outbound-api","customParameters":{"session":"42","n":7},"extra":{"x":1}}"#)
        #expect(
            event
                == .setup(
                    Relay.Setup(
                        sessionID: "VX1", callSID: "CA1", from: "+15550001", to: "+15550002",
                        direction: "outbound-api", customParameters: ["session": "42", "n": "7"])))
    }

    @Test(arguments: [
        (
            #"{"type":"prompt","voicePrompt":"Where is my order?","lang":"en-US","last":true}"#, "Where is my order?",
            true
        ),
        (#"{"type":"prompt","voicePrompt":"Where is","last":false}"#, "Where is", false),
        (#"{"type":"prompt","voicePrompt":"Yes","last":"false"}"#, "Yes", false),
        (#"{"type":"prompt","voicePrompt":"Yes"}"#, "Yes", true),
    ])
    func promptsWithTheirLastFlagInAnyForm(text: String, said: String, last: Bool) throws {
        guard case .prompt(let heard, _, let isLast) = try Relay.parse(text) else {
            Issue.record("not a prompt")
            return
        }
        #expect(heard == said && isLast == last)
    }

    @Test(
        arguments: [
            (#""460""#, 460), ("460", 460), (#""460.6""#, 461), ("1200.2", 1200), (#""soon""#, nil), ("-5", nil),
            ("null", nil), (#""1e400""#, nil),
        ] as [(String, Int?)])
    func interruptDurationsAsNumbersOrStrings(duration: String, expected: Int?) throws {
        let event = try Relay.parse(
            #"{"type":"interrupt","utteranceUntilInterrupt":"Life is a complex set of","durationUntilInterruptMs":"#
                + duration + "}")
        #expect(event == .interrupt(heard: "Life is a complex set of", playedMs: expected))
    }

    @Test func keysErrorsAndUnknownTypes() throws {
        #expect(try Relay.parse(#"{"type":"dtmf","digit":"1"}"#) == .dtmf(digit: "1"))
        #expect(try Relay.parse(#"{"type":"dtmf","digit":5}"#) == .dtmf(digit: "5"))
        #expect(
            try Relay.parse(#"{"type":"error","description":"Invalid message received"}"#)
                == .error(description: "Invalid message received"))
        #expect(try Relay.parse(#"{"type":"info","name":"roundTripDelay","value":120}"#) == .other(type: "info"))
    }

    @Test(arguments: [
        "", "not json", "[1,2]", #"{"voicePrompt":"no type"}"#, #"{"type":7}"#, #"{"type":"setup","from":"+1"}"#,
        #"{"type":"dtmf"}"#, "{\"type\":\"prompt\",\"voicePrompt\":\"" + String(repeating: "a", count: 70_000) + "\"}",
    ])
    func unreadableMessagesAreRefusedWithAReason(text: String) {
        #expect(throws: Relay.ParseError.self) { try Relay.parse(text) }
    }

    @Test func commandsCarryOnlyProtocolFields() {
        #expect(
            Relay.Command.text(token: "Hello", last: false).json == #"{"last":false,"token":"Hello","type":"text"}"#)
        #expect(
            Relay.Command.text(token: "Bye \"now\"", last: true, interruptible: false).json
                == #"{"interruptible":false,"last":true,"token":"Bye \"now\"","type":"text"}"#)
        #expect(Relay.Command.sendDigits("1234#").json == #"{"digits":"1234#","type":"sendDigits"}"#)
        #expect(Relay.Command.end(handoffData: nil).json == #"{"type":"end"}"#)
        #expect(
            Relay.Command.end(handoffData: #"{"reason":"drain"}"#).json
                == #"{"handoffData":"{\"reason\":\"drain\"}","type":"end"}"#)
        #expect(
            Relay.Command.play(source: "https://x.test/a.mp3", loop: 2).json
                == #"{"loop":2,"source":"https://x.test/a.mp3","type":"play"}"#)
        #expect(
            Relay.Command.language(tts: "fr-FR", transcription: nil).json
                == #"{"ttsLanguage":"fr-FR","type":"language"}"#)
    }
}
