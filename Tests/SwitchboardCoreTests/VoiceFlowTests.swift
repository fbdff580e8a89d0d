import Foundation
import SwitchboardCore
import Testing

@Suite struct VoiceFlowTests {
    /// Runs a scripted caller through a flow: the ids of the questions asked, the answers and how it ended.
    func run(_ flow: VoiceFlow, _ said: [String?]) -> (asked: [String], interview: Interview, last: Interview.Step) {
        var (interview, step) = Interview.start(flow)
        var asked: [String] = []
        var replies = said[...]
        while case .ask(_, let question) = step {
            if asked.last != question.id { asked.append(question.id) }
            guard let reply = replies.popFirst() else { break }
            step = interview.answer(CallerInput(speech: reply, confidence: reply == nil ? nil : 0.9), flow: flow)
        }
        return (asked, interview, step)
    }

    @Test func triageFollowsTheChosenBranch() throws {
        let flow = try ExampleFlows.flow(ExampleFlows.triage)
        let technical = run(flow, ["It's a technical problem", "The app crashes on login"])
        #expect(technical.asked == ["issue_type", "technical_details"])
        #expect(
            technical.interview.answers == ["issue_type": "technical", "technical_details": "The app crashes on login"])
        #expect(technical.interview.outcome == .completed)
        // The transcript has every prompt, the first one too, and every answer.
        #expect(technical.interview.transcript.map(\.speaker) == [.agent, .caller, .agent, .caller, .agent])
        // Billing, then (no action on billing_details) the next question in order.
        let billing = run(flow, ["billing", "I was charged twice", "none"])
        #expect(billing.asked == ["issue_type", "billing_details", "technical_details"])
        // Keypad: 3 is "general inquiry", which has no action: the next question in order.
        var (interview, _) = Interview.start(flow)
        _ = interview.answer(CallerInput(digits: "3"), flow: flow)
        #expect(interview.answers["issue_type"] == "general inquiry")
        #expect(interview.position == 1)
    }

    @Test func triageRetriesUnclearAnswersThenEndsPolitely() throws {
        let flow = try ExampleFlows.flow(ExampleFlows.triage)
        let result = run(flow, ["pizza", nil, "banana"])
        #expect(result.asked == ["issue_type"])
        #expect(result.last == .end(message: Interview.unanswered))
        #expect(result.interview.outcome == .unanswered)
        let reprompts = result.interview.transcript.filter { $0.text.hasPrefix("Sorry, I didn't catch that") }
        #expect(reprompts.count == 2, "maxRetries defaults to 2")
        #expect(reprompts[0].text.contains("general inquiry, press 3"))
        // A misspelt choice still counts.
        let misspelt = run(flow, ["billling", "charged twice"])
        #expect(misspelt.interview.answers["issue_type"] == "billing")
        #expect(misspelt.asked == ["issue_type", "billing_details", "technical_details"])
    }

    @Test func screeningEndsOnNoneAndJumpsOnSenior() throws {
        let flow = try ExampleFlows.flow(ExampleFlows.screening)
        let none = run(flow, ["Ana Lima", "None."])
        #expect(none.asked == ["name", "experience"])
        #expect(
            none.last
                == .end(
                    message: "Thank you for your interest. We'll review entry-level positions and contact you soon."))
        #expect(none.interview.outcome == .endCall)
        #expect(none.interview.answers["experience"] == "0")
        let senior = run(flow, ["Bo Chen", "I'm a senior engineer", "I led a team of six", "next month"])
        #expect(senior.asked == ["name", "experience", "leadership_experience", "availability"])
        #expect(senior.interview.answers["experience"] == "I'm a senior engineer")
        let years = run(flow, ["Cy Dorn", "about five years", "some", "in two weeks"])
        #expect(years.interview.answers["experience"] == "5")
        #expect(years.asked == ["name", "experience", "leadership_experience", "availability"])
        #expect(years.interview.outcome == .completed)
    }

    @Test func surveyBranchesOnTheRatingAsANumber() throws {
        let flow = try ExampleFlows.flow(ExampleFlows.survey)
        let nine = run(flow, ["nine", "yeah sure"])
        #expect(nine.asked == ["satisfaction_rating", "testimonial_request", "improvement_feedback"])
        #expect(nine.interview.answers["testimonial_request"] == "yes")
        let three = run(flow, ["3", "faster delivery"])
        #expect(three.asked == ["satisfaction_rating", "improvement_feedback"])
        // 10 "contains" a 1 as text, but ratings compare as numbers: no branch, the next question.
        let ten = run(flow, ["10", "nope", "nothing"])
        #expect(ten.asked == ["satisfaction_rating", "testimonial_request", "improvement_feedback"])
        #expect(ten.interview.answers["testimonial_request"] == "no")
    }

    @Test func starRepeatsTheQuestionWithoutUsingARetry() throws {
        let flow = try ExampleFlows.flow(ExampleFlows.survey)
        var (interview, first) = Interview.start(flow)
        let again = interview.answer(CallerInput(digits: "*"), flow: flow)
        #expect(again == first)
        #expect(interview.retries == 0)
        _ = interview.answer(CallerInput(speech: "I'd say 4", confidence: 0.1), flow: flow)
        #expect(interview.retries == 1, "low confidence counts as unclear")
        first = interview.answer(CallerInput(digits: "4"), flow: flow)
        #expect(interview.answers["satisfaction_rating"] == "4")
    }

    @Test(arguments: [
        ("five years", 5), ("twenty-five", 25), ("a hundred and two", 102), ("10", 10), ("7.5 years", 7),
        ("none", 0), ("no experience", 0), ("no, about three", 3), ("I have ten years", 10),
    ])
    func numbersFromWordsAndDigits(text: String, expected: Int) {
        #expect(AnswerNormalizer.number(in: text) == expected)
    }

    @Test func unknownNumbersAndYesNo() {
        #expect(AnswerNormalizer.number(in: "senior") == nil)
        #expect(AnswerNormalizer.number(in: "a lot") == nil)
        #expect(AnswerNormalizer.yesNo("Yeah, I would") == "yes")
        #expect(AnswerNormalizer.yesNo("not really") == "no")
        #expect(AnswerNormalizer.yesNo("2") == "no")
        #expect(AnswerNormalizer.yesNo("maybe later") == nil)
    }

    @Test(arguments: [
        (
            #"[{"id": "a", "question": "Q?", "expectedAnswerType": "text"}, {"id": "a", "question": "Q?", "expectedAnswerType": "text"}]"#,
            "questions[1].id"
        ),
        (#"[{"id": "a", "question": "Q?", "expectedAnswerType": "multiple_choice"}]"#, "questions[0] 'a'.choices"),
        (#"[{"id": "a", "question": "Q?", "expectedAnswerType": "essay"}]"#, "questions[0] 'a'.expectedAnswerType"),
        (#"[{"id": "a", "question": "", "expectedAnswerType": "text"}]"#, "questions[0] 'a'.question"),
        (
            #"[{"id": "a", "question": "Q?", "expectedAnswerType": "text", "maxRetries": 99}]"#,
            "questions[0] 'a'.maxRetries"
        ),
        (
            #"[{"id": "a", "question": "Q?", "expectedAnswerType": "text", "conditionalActions": [{"condition": {"field": "a", "operator": "like", "value": "x"}, "action": "end_call"}]}]"#,
            "questions[0] 'a'.conditionalActions[0].condition.operator"
        ),
        (
            #"[{"id": "a", "question": "Q?", "expectedAnswerType": "text", "conditionalActions": [{"condition": {"field": "a", "operator": "equals", "value": "x"}, "action": "continue_flow", "nextQuestionId": "zz"}]}]"#,
            "questions[0] 'a'.conditionalActions[0].nextQuestionId"
        ),
        (
            #"[{"id": "a", "question": "Q?", "expectedAnswerType": "text", "conditionalActions": [{"condition": {"field": "b", "operator": "equals", "value": "x"}, "action": "end_call"}]}]"#,
            "questions[0] 'a'.conditionalActions[0].condition.field"
        ),
        (
            #"[{"id": "a", "question": "Q?", "expectedAnswerType": "text", "conditionalActions": [{"condition": {"field": "a", "operator": "equals", "value": "x"}, "action": "transfer"}]}]"#,
            "questions[0] 'a'.conditionalActions[0].action"
        ),
        (#"[]"#, "questions"),
        (#"{"steps": []}"#, "questions"),
    ])
    func brokenFlowsAreRefusedWithTheFieldNamed(json: String, field: String) throws {
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
        let error = #expect(throws: InputError.self) { try VoiceFlow(json: value) }
        #expect(error?.field == field, "\(String(describing: error))")
    }
}
