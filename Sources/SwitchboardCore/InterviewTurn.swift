import Foundation

/// A voice-agent session's state: a scripted interview or an LLM conversation.
public enum SessionState: Sendable, Equatable, Codable {
    case interview(Interview)
    case conversation(Conversation)
}

/// What a voice-agent turn does, decided from the session and the request.
public enum TurnPlan: Sendable, Equatable {
    /// A repeated request: answer with the TwiML already produced for that turn.
    case replay(turn: Int)
    /// The next prompt (or the goodbye, with the outcome that ends the session).
    case produce(state: SessionState, twiml: String, ended: AgentOutcome?)
    case reject(String)
}

/// The webhook's side of a scripted interview, pure: given the stored session and one request
/// from Twilio, what TwiML to answer and what to store. Turn n's `<Gather>` posts to `action(n)`.
public enum InterviewTurn {
    public static let timeLimitMessage = "We have run out of time for this call. Thank you, goodbye."

    /// - Parameters:
    ///   - requestTurn: nil for the call's first request (answered), n for turn n's Gather result.
    ///   - produced: prompts produced so far.
    public static func plan(
        spec: VoiceAgentSpec, state: SessionState?, produced: Int, requestTurn: Int?, input: CallerInput,
        startedAt: Date, now: Date, action: (Int) -> String
    ) -> TurnPlan {
        guard let flow = spec.flow else { return .reject("not a questions agent") }
        guard let requestTurn else {
            if produced > 0 { return .replay(turn: 1) }
            let (started, step) = Interview.start(flow)
            return .produce(
                state: .interview(started), twiml: render(step, turn: 1, spec: spec, action: action), ended: nil)
        }
        if requestTurn < produced { return .replay(turn: requestTurn + 1) }
        guard requestTurn == produced, case .interview(var interview)? = state, interview.position != nil else {
            return .reject("turn \(requestTurn) is not the one being asked (\(produced) asked)")
        }
        let step: Interview.Step
        if now.timeIntervalSince(startedAt) > Double(spec.timeLimit) {
            step = interview.stop(outcome: .timeout, message: timeLimitMessage)
        } else {
            step = interview.answer(input, flow: flow, repeatKey: spec.repeatKey ?? "*", skipKey: spec.skipKey ?? "")
        }
        return .produce(
            state: .interview(interview), twiml: render(step, turn: requestTurn + 1, spec: spec, action: action),
            ended: interview.outcome)
    }

    static func render(_ step: Interview.Step, turn: Int, spec: VoiceAgentSpec, action: (Int) -> String) -> String {
        switch step {
        case .ask(let prompt, let question):
            return TwiML.gather(
                prompt: prompt, action: action(turn), question: question, voice: spec.voice, language: spec.language,
                before: turn == 1 ? spec.greeting : nil)
        case .end(let message):
            return TwiML.goodbye(message, voice: spec.voice, language: spec.language)
        }
    }
}

extension SessionState {
    /// One line of what was said, by the agent or the caller.
    public struct SpokenLine: Sendable, Equatable, Codable {
        public var speaker: Speaker
        public var text: String
        /// Interviews: the question the line belongs to.
        public var questionId: String?

        public init(speaker: Speaker, text: String, questionId: String? = nil) {
            self.speaker = speaker
            self.text = text
            self.questionId = questionId
        }
    }

    /// What was said, in order.
    public var spokenLines: [SpokenLine] {
        switch self {
        case .interview(let interview):
            interview.transcript.map { SpokenLine(speaker: $0.speaker, text: $0.text, questionId: $0.questionId) }
        case .conversation(let conversation):
            conversation.history.filter(\.isSpoken).map {
                SpokenLine(speaker: $0.role == "user" ? .caller : .agent, text: $0.content, questionId: nil)
            }
        }
    }

    /// Interviews: the answers by question id (LLM conversations have none).
    public var answers: [String: String] {
        if case .interview(let interview) = self { return interview.answers }
        return [:]
    }
}
