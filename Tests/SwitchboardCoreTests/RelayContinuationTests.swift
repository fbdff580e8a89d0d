import Foundation
import SwitchboardCore
import Testing

/// A relay session that ended with its call going on continues by `<Gather>` from the stored
/// session: what the caller hears and which turn answers it.
@Suite struct RelayContinuationTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)
    static let action: @Sendable (Int) -> String = { "https://hooks.example.com/twilio/voice/sessions/7/turns/\($0)" }

    static func continued(_ spec: VoiceAgentSpec, _ state: SessionState?, produced: Int) -> TurnPlan {
        RelayTurn.continueByGather(
            spec: spec, state: state, produced: produced, startedAt: start, now: start + 30, action: action)
    }

    @Test func anInterviewAsksTheCurrentQuestionAgainAsTheNextTurn() throws {
        let spec = try RelayTurnTests.spec()
        guard
            case .say(let opened, _, nil) = RelayTurn.plan(
                spec: spec, state: nil, input: .opened, startedAt: Self.start, now: Self.start),
            case .say(let rated, _, nil) = RelayTurn.plan(
                spec: spec, state: opened, input: .heard(CallerInput(digits: "9")), startedAt: Self.start,
                now: Self.start + 10)
        else {
            Issue.record("the survey did not start")
            return
        }
        guard case .produce(let state, let twiml, nil) = Self.continued(spec, rated, produced: 2) else {
            Issue.record("no continuation")
            return
        }
        #expect(state == rated, "nothing changes but the transport")
        #expect(twiml.contains("<Gather"), "\(twiml)")
        #expect(twiml.contains(spec.flow!.questions[1].question), "the question being asked: \(twiml)")
        #expect(twiml.contains(Self.action(3)), "answered as turn 3: \(twiml)")
        #expect(!twiml.contains("Acme"), "no greeting again: \(twiml)")
    }

    @Test func aSessionThatNeverSpokeStartsOverByGather() throws {
        let spec = try RelayTurnTests.spec()
        guard case .produce(.interview, let twiml, nil) = Self.continued(spec, nil, produced: 0) else {
            Issue.record("no first turn")
            return
        }
        #expect(twiml.contains("Hi, this is Acme.") && twiml.contains(Self.action(1)), "\(twiml)")
    }

    static func conversationSpec() throws -> VoiceAgentSpec {
        try VoiceTransportTests.request("relay", llm: true).resolve()
    }

    @Test func aConversationRepeatsTheAgentsLastWords() throws {
        let spec = try Self.conversationSpec()
        var conversation = Conversation()
        _ = conversation.start(greeting: "Hello, Acme here.")
        _ = conversation.hear(CallerInput(speech: "my order is late", confidence: 1), settings: spec.llm!, elapsed: 5)
        _ = conversation.reply(
            "Sorry to hear it. What is the order number?", promptTokens: 9, completionTokens: 7, settings: spec.llm!)
        guard
            case .produce(.conversation(let kept), let twiml, nil) = Self.continued(
                spec, .conversation(conversation), produced: 3)
        else {
            Issue.record("no continuation")
            return
        }
        #expect(kept == conversation)
        #expect(twiml.contains("What is the order number?") && twiml.contains(Self.action(4)), "\(twiml)")
    }

    @Test func aConversationWhoseAnswerWasLostAsksTheCallerToSayItAgain() throws {
        let spec = try Self.conversationSpec()
        var conversation = Conversation()
        _ = conversation.start(greeting: nil)
        _ = conversation.hear(CallerInput(speech: "my order is late", confidence: 1), settings: spec.llm!, elapsed: 5)
        guard
            case .produce(.conversation(let kept), let twiml, nil) = Self.continued(
                spec, .conversation(conversation), produced: 2)
        else {
            Issue.record("no continuation")
            return
        }
        #expect(twiml.contains("Could you say that again?"), "the fallback: \(twiml)")
        #expect(kept.history.map(\.role) == ["assistant"], "the unanswered words are not kept: \(kept.history)")
    }

    @Test func aFinishedConversationHangsUpWithItsOutcome() throws {
        let spec = try Self.conversationSpec()
        var conversation = Conversation()
        _ = conversation.start(greeting: nil)
        _ = conversation.hear(CallerInput(speech: "goodbye", confidence: 1), settings: spec.llm!, elapsed: 5)
        #expect(
            Self.continued(spec, .conversation(conversation), produced: 2)
                == .produce(state: .conversation(conversation), twiml: TwiML.hangup, ended: .callerGoodbye))
    }
}
