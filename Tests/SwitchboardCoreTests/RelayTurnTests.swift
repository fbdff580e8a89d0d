import Foundation
import SwitchboardCore
import Testing

/// A scripted interview over ConversationRelay, without a socket: what to say and store per turn.
@Suite struct RelayTurnTests {
    static func spec() throws -> VoiceAgentSpec {
        let questions = try JSONDecoder().decode(JSONValue.self, from: Data(ExampleFlows.survey.utf8))
        var request = VoiceAgentRequest(
            account: "main", to: "+15550001234", from: "+15557654321", questions: questions)
        request.greeting = "Hi, this is Acme."
        request.timeLimit = 300
        return try request.resolve()
    }

    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func theSurveyAsItsFlowSaysWithKeysAndWordsAlike() throws {
        let spec = try Self.spec()
        guard
            case .say(let opened, let greeting, nil) = RelayTurn.plan(
                spec: spec, state: nil, input: .opened, startedAt: Self.start, now: Self.start)
        else { Issue.record("no greeting"); return }
        #expect(greeting.hasPrefix("Hi, this is Acme. On a scale of 1 to 10"))
        // Opened again (a new socket): the question again, nothing stored.
        #expect(
            RelayTurn.plan(spec: spec, state: opened, input: .opened, startedAt: Self.start, now: Self.start)
                == .repeatQuestion(text: spec.flow!.questions[0].question))
        guard
            case .say(let rated, let next, nil) = RelayTurn.plan(
                spec: spec, state: opened, input: .heard(CallerInput(digits: "9")), startedAt: Self.start,
                now: Self.start + 10)
        else { Issue.record("no second question"); return }
        #expect(next.contains("testimonial"))
        guard
            case .say(let agreed, let third, nil) = RelayTurn.plan(
                spec: spec, state: rated, input: .heard(CallerInput(speech: "yes, sure", confidence: 1)),
                startedAt: Self.start, now: Self.start + 20)
        else {
            Issue.record("no third question")
            return
        }
        #expect(third.contains("What could we have done better"))
        guard
            case .say(let done, let goodbye, .completed) = RelayTurn.plan(
                spec: spec, state: agreed, input: .heard(CallerInput(speech: "Nothing at all", confidence: 1)),
                startedAt: Self.start, now: Self.start + 25)
        else {
            Issue.record("no goodbye")
            return
        }
        #expect(goodbye == Interview.closing)
        guard case .interview(let interview) = done else { Issue.record("no interview"); return }
        #expect(
            interview.answers == [
                "satisfaction_rating": "9", "testimonial_request": "yes", "improvement_feedback": "Nothing at all",
            ])
        #expect(
            RelayTurn.plan(
                spec: spec, state: done, input: .heard(CallerInput(speech: "hello")), startedAt: Self.start,
                now: Self.start + 30) == .ignore("the interview has ended"))
    }

    @Test func pastTheTimeLimitTheCallEnds() throws {
        let spec = try Self.spec()
        guard
            case .say(let opened, _, nil) = RelayTurn.plan(
                spec: spec, state: nil, input: .opened, startedAt: Self.start, now: Self.start)
        else { Issue.record("no greeting"); return }
        #expect(
            RelayTurn.plan(
                spec: spec, state: opened, input: .heard(CallerInput(speech: "nine", confidence: 1)),
                startedAt: Self.start, now: Self.start + 301)
                == .say(
                    state: {
                        guard case .interview(var interview) = opened else { return opened }
                        _ = interview.stop(outcome: .timeout, message: InterviewTurn.timeLimitMessage)
                        return .interview(interview)
                    }(), text: InterviewTurn.timeLimitMessage, ended: .timeout))
    }

    @Test func aPromptBeforeTheGreetingIsIgnored() throws {
        #expect(
            RelayTurn.plan(
                spec: try Self.spec(), state: nil, input: .heard(CallerInput(speech: "hello")), startedAt: Self.start,
                now: Self.start) == .ignore("nothing was asked yet"))
    }

    /// The key that repeats a question: `*` unless the job names another (`0`) or none.
    @Test(arguments: [(nil as String?, "*"), ("0", "0")])
    func theRepeatKeyAsksTheQuestionAgain(repeatKey: String?, key: String) throws {
        var spec = try Self.spec()
        spec.repeatKey = repeatKey
        guard
            case .say(let opened, _, nil) = RelayTurn.plan(
                spec: spec, state: nil, input: .opened, startedAt: Self.start, now: Self.start),
            case .say(let again, let text, nil) = RelayTurn.plan(
                spec: spec, state: opened, input: .heard(CallerInput(digits: key)), startedAt: Self.start,
                now: Self.start + 5)
        else {
            Issue.record("no turn")
            return
        }
        #expect(text.contains("On a scale of 1 to 10"), "the question again: \(text)")
        #expect(again.answers.isEmpty)
    }

    @Test func theSkipKeyLeavesTheQuestionUnansweredAndGoesOn() throws {
        var spec = try Self.spec()
        spec.skipKey = "0"
        guard
            case .say(let opened, _, nil) = RelayTurn.plan(
                spec: spec, state: nil, input: .opened, startedAt: Self.start, now: Self.start),
            case .say(let skipped, let text, nil) = RelayTurn.plan(
                spec: spec, state: opened, input: .heard(CallerInput(digits: "0")), startedAt: Self.start,
                now: Self.start + 5)
        else {
            Issue.record("no turn")
            return
        }
        #expect(text.contains("testimonial"), "the next question: \(text)")
        #expect(skipped.answers.isEmpty, "the skipped question has no answer")
        #expect(skipped.spokenLines.contains { $0.text == "(skipped)" && $0.questionId == "satisfaction_rating" })
    }

    @Test func aJobMayTurnTheKeysOffOrIsRefusedAKeyThatCannotWork() throws {
        let questions = try JSONDecoder().decode(JSONValue.self, from: Data(ExampleFlows.survey.utf8))
        var request = VoiceAgentRequest(account: "main", to: "+15550001234", from: "+15557654321", questions: questions)
        request.repeatKey = ""
        #expect(try request.resolve().repeatKey == "")
        for bad in ["#", "5", "**"] {
            request.repeatKey = bad
            let error = #expect(throws: InputError.self) { try request.resolve() }
            #expect(error?.field == "repeatKey", "\(bad): \(String(describing: error))")
        }
        request.repeatKey = nil
        request.skipKey = "*"
        let clash = #expect(throws: InputError.self) { try request.resolve() }
        #expect(clash?.field == "skipKey" && clash?.problem.contains("repeat") == true, "\(String(describing: clash))")
        request.skipKey = "#"
        #expect(throws: InputError.self) { try request.resolve() }
    }
}
