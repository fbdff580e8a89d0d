/// The state of one scripted interview (a JSON-questions voice agent) and its transitions: pure, so
/// the webhook can keep it in a Postgres row and any host can take the next turn.
public struct Interview: Sendable, Equatable, Codable {
    /// Index of the question being asked; nil once the interview has ended.
    public private(set) var position: Int?
    /// Re-prompts used on the current question.
    public private(set) var retries: Int = 0
    /// Answers by question id: the normalised value (number, yes/no, choice) or the words said.
    public private(set) var answers: [String: String] = [:]
    public private(set) var transcript: [Line] = []
    /// Why it ended: completed (ran out of questions), end_call (an action), unanswered.
    public private(set) var outcome: AgentOutcome?

    public struct Line: Sendable, Equatable, Codable {
        public var speaker: Speaker
        public var text: String
        public var questionId: String?
    }

    /// What the agent does next.
    public enum Step: Sendable, Equatable {
        /// Say `prompt` and listen for an answer to the question.
        case ask(prompt: String, question: VoiceFlow.Question)
        /// Say `message` and hang up.
        case end(message: String)
    }

    public static let closing = "Thank you for your time. Goodbye."
    public static let unanswered = "Sorry, we could not hear your answer. We will try again another time. Goodbye."

    /// Starts at the first question.
    public static func start(_ flow: VoiceFlow) -> (Interview, Step) {
        var interview = Interview(position: 0)
        let step = interview.ask(flow, reprompt: false)
        return (interview, step)
    }

    /// The keys that may repeat or skip the question being asked (`repeatKey`, `skipKey`; ""
    /// turns one off). Not `#`: it ends keypad input on `<Gather>`.
    public static let keypadKeys = ["*", "0", ""]

    /// Takes the caller's answer to the current question and says what comes next. The
    /// `repeatKey` alone asks the question again; the `skipKey` alone leaves it unanswered and
    /// goes where the question's `any_other` action leads, else to the next question.
    public mutating func answer(
        _ input: CallerInput, flow: VoiceFlow, repeatKey: String = "*", skipKey: String = ""
    ) -> Step {
        guard let position else { return .end(message: Self.closing) }
        let question = flow.questions[position]
        if (input.speech ?? "").isEmpty, let digits = input.digits {
            if !repeatKey.isEmpty, digits == repeatKey { return ask(flow, reprompt: false, log: false) }
            if !skipKey.isEmpty, digits == skipKey {
                transcript.append(Line(speaker: .caller, text: "(skipped)", questionId: question.id))
                if let fallback = question.conditionalActions.first(where: { $0.condition.operator == .anyOther }) {
                    return follow(fallback, flow: flow)
                }
                return advance(to: position + 1, flow: flow)
            }
        }
        let normalized = AnswerNormalizer.normalize(input, for: question)
        if !input.isSilent { transcript.append(Line(speaker: .caller, text: input.text, questionId: question.id)) }
        // Words heard with too little confidence are as good as silence (no branch on a guess).
        let heard =
            !input.isSilent && !(input.digits == nil && (input.confidence ?? 1) < AnswerNormalizer.minimumConfidence)
        var explicitMatch: VoiceFlow.ConditionalAction?
        if heard {
            var tentative = answers
            tentative[question.id] = normalized ?? input.text
            explicitMatch = question.conditionalActions.first {
                $0.condition.operator != .anyOther
                    && ConditionMatcher.matches(
                        $0.condition, answers: tentative, raw: [question.id: input.text], flow: flow)
            }
        }
        guard normalized != nil || explicitMatch != nil else {
            retries += 1
            if retries <= question.maxRetries { return ask(flow, reprompt: true) }
            // Out of retries: the flow's fallback if it has one, else a polite end.
            if let fallback = question.conditionalActions.first(where: { $0.condition.operator == .anyOther }) {
                return follow(fallback, flow: flow)
            }
            return finish(outcome: .unanswered, message: Self.unanswered)
        }
        answers[question.id] = normalized ?? input.text
        let action =
            explicitMatch
            ?? question.conditionalActions.first { $0.condition.operator == .anyOther }
        if let action { return follow(action, flow: flow) }
        return advance(to: position + 1, flow: flow)
    }

    /// Ends the interview from outside (a time limit): says `message` and hangs up.
    public mutating func stop(outcome: AgentOutcome, message: String) -> Step {
        finish(outcome: outcome, message: message)
    }

    private mutating func follow(_ action: VoiceFlow.ConditionalAction, flow: VoiceFlow) -> Step {
        switch action.action {
        case .endCall:
            return finish(outcome: .endCall, message: action.customMessage ?? Self.closing)
        case .continueFlow:
            guard let next = action.nextQuestionId.flatMap(flow.index(of:)) else {
                return finish(outcome: .completed, message: Self.closing)
            }
            return advance(to: next, flow: flow)
        }
    }

    private mutating func advance(to index: Int, flow: VoiceFlow) -> Step {
        guard index < flow.questions.count else { return finish(outcome: .completed, message: Self.closing) }
        position = index
        retries = 0
        return ask(flow, reprompt: false)
    }

    private mutating func finish(outcome: AgentOutcome, message: String) -> Step {
        position = nil
        self.outcome = outcome
        transcript.append(Line(speaker: .agent, text: message, questionId: nil))
        return .end(message: message)
    }

    private mutating func ask(_ flow: VoiceFlow, reprompt: Bool, log: Bool = true) -> Step {
        let question = flow.questions[position!]
        var prompt = question.question
        if reprompt {
            prompt = "Sorry, I didn't catch that. " + prompt
            switch question.expectedAnswerType {
            case .yesNo: prompt += " Please say yes or no, or press 1 for yes and 2 for no."
            case .multipleChoice:
                let choices = question.choices ?? []
                let spoken = choices.enumerated().map { "\($1), press \($0 + 1)" }.joined(separator: "; ")
                prompt += " You can say \(spoken)."
            case .number: prompt += " Please say a number."
            case .text: break
            }
        }
        if log { transcript.append(Line(speaker: .agent, text: prompt, questionId: question.id)) }
        return .ask(prompt: prompt, question: question)
    }
}

/// Evaluates a flow's conditions (case-insensitive; a comma-separated value matches any of its
/// items). For number questions an item that is a number compares as a number, so "10" does not
/// "contain" the 1 of "1,2,3,4,5".
public enum ConditionMatcher {
    public static func matches(
        _ condition: VoiceFlow.Condition, answers: [String: String], raw: [String: String] = [:], flow: VoiceFlow
    ) -> Bool {
        if condition.operator == .anyOther { return true }
        guard let answer = answers[condition.field] else { return false }
        let said = raw[condition.field] ?? answer
        let isNumber = flow.questions.first { $0.id == condition.field }?.expectedAnswerType == .number
        let items = condition.value.split(separator: ",").map { String($0).trimmingSpaces().lowercased() }
            .filter { !$0.isEmpty }
        func equal(_ item: String) -> Bool {
            if isNumber, let wanted = AnswerNormalizer.number(in: item), let got = Int(answer) { return wanted == got }
            return [answer, said].contains { clean($0) == item }
        }
        func contained(_ item: String) -> Bool {
            if isNumber, let wanted = AnswerNormalizer.number(in: item), let got = Int(answer) { return wanted == got }
            return [answer, said].contains { $0.lowercased().contains(item) }
        }
        switch condition.operator {
        case .equals: return items.contains(where: equal)
        case .contains: return items.contains(where: contained)
        case .notEquals: return !items.contains(where: equal)
        case .anyOther: return true
        }
    }

    /// Lowercased, trimmed, without the trailing punctuation speech recognition adds ("None.").
    static func clean(_ text: String) -> String {
        var cleaned = text.trimmingSpaces().lowercased()
        while let last = cleaned.last, ".!?,".contains(last) { cleaned.removeLast() }
        return cleaned
    }
}
