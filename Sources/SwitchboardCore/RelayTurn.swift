import Foundation

/// A scripted interview's turn over ConversationRelay, pure: Twilio does the speech, so a turn is
/// the text to say and what to store, decided from the session and what Twilio reported.
/// (The `<Gather>` transport's counterpart, which answers with TwiML, is `InterviewTurn`.)
public enum RelayTurn {
    /// What Twilio reported, as far as the interview is concerned.
    public enum Input: Sendable, Equatable {
        /// The socket opened (`setup`): the greeting and the first question, or the current
        /// question again if the interview had begun (a socket opened anew).
        case opened
        /// The caller's final words for this turn (`prompt` with `last`), or a key (`dtmf`).
        case heard(CallerInput)
    }

    public enum Plan: Sendable, Equatable {
        /// Say `text`; store `state`; `ended` ends the session (then the socket is closed with
        /// `end`, the goodbye said).
        case say(state: SessionState, text: String, ended: AgentOutcome?)
        /// Say `text` again without changing anything (the question being asked).
        case repeatQuestion(text: String)
        /// Nothing to do: the session is over or is not an interview.
        case ignore(String)
    }

    public static func plan(
        spec: VoiceAgentSpec, state: SessionState?, input: Input, startedAt: Date, now: Date
    ) -> Plan {
        guard let flow = spec.flow else { return .ignore("not a questions agent") }
        switch (input, state) {
        case (.opened, nil):
            let (interview, step) = Interview.start(flow)
            return .say(state: .interview(interview), text: spoken(step, greeting: spec.greeting), ended: nil)
        case (.opened, .interview(let interview)?):
            guard let position = interview.position else { return .ignore("the interview has ended") }
            return .repeatQuestion(text: flow.questions[position].question)
        case (.heard(let heard), .interview(var interview)?):
            guard interview.position != nil else { return .ignore("the interview has ended") }
            let step =
                now.timeIntervalSince(startedAt) > Double(spec.timeLimit)
                ? interview.stop(outcome: .timeout, message: InterviewTurn.timeLimitMessage)
                : interview.answer(heard, flow: flow)
            return .say(state: .interview(interview), text: spoken(step, greeting: nil), ended: interview.outcome)
        case (.heard, nil):
            return .ignore("nothing was asked yet")
        case (_, .conversation?):
            return .ignore("not a questions agent")
        }
    }

    static func spoken(_ step: Interview.Step, greeting: String?) -> String {
        switch step {
        case .ask(let prompt, _): [greeting, prompt].compactMap { $0 }.joined(separator: " ")
        case .end(let message): message
        }
    }
}
