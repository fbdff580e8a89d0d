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
                : interview.answer(heard, flow: flow, repeatKey: spec.repeatKey ?? "*", skipKey: spec.skipKey ?? "")
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

extension RelayTurn {
    /// The relay session ended while the call goes on (the webhook host drained, or the socket
    /// broke): the session continues by `<Gather>` from what is stored, on whichever host Twilio's
    /// `<Connect action>` request reaches. The caller hears again what was last asked — the
    /// current question, or the agent's last words — and answers it as turn `produced + 1`. A
    /// conversation whose caller spoke last (the model's answer was lost with the socket) hears the
    /// fallback and is asked to say it again, as after a model failure.
    public static func continueByGather(
        spec: VoiceAgentSpec, state: SessionState?, produced: Int, startedAt: Date, now: Date,
        action: (Int) -> String
    ) -> TurnPlan {
        let turn = produced + 1
        switch state {
        case nil:
            // The socket ended before anything was said: the call starts over by <Gather>.
            guard spec.agentType == "llm" else {
                return InterviewTurn.plan(
                    spec: spec, state: nil, produced: 0, requestTurn: nil, input: CallerInput(), startedAt: startedAt,
                    now: now, action: action)
            }
            switch ConversationTurn.begin(
                spec: spec, state: nil, produced: 0, requestTurn: nil, input: CallerInput(), startedAt: startedAt,
                now: now, action: action)
            {
            case .plan(let plan): return plan
            case .needsModel: return .reject("a conversation cannot begin with the model")
            }
        case .interview(let interview)?:
            guard let flow = spec.flow, let position = interview.position, flow.questions.indices.contains(position)
            else {
                return .produce(
                    state: .interview(interview), twiml: TwiML.hangup, ended: interview.outcome ?? .completed)
            }
            let question = flow.questions[position]
            return .produce(
                state: .interview(interview),
                twiml: InterviewTurn.render(
                    .ask(prompt: question.question, question: question), turn: turn, spec: spec, action: action),
                ended: nil)
        case .conversation(var conversation)?:
            guard spec.llm != nil, conversation.outcome == nil else {
                return .produce(
                    state: .conversation(conversation), twiml: TwiML.hangup, ended: conversation.outcome ?? .completed)
            }
            let next: Conversation.Next
            if let last = conversation.history.last, last.role == "assistant" {
                next = .say(last.content, listen: true)
            } else {
                next = conversation.failed()
            }
            return ConversationTurn.finish(conversation, next, turn: turn, spec: spec, action: action)
        }
    }
}
