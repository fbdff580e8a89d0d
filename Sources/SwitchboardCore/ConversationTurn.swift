import Foundation

/// The webhook's side of an LLM conversation, pure except for the model call it asks for: `begin`
/// decides from the session and the request; when the model is needed, the caller calls it and
/// hands the reply (or the failure) to `finish`.
public enum ConversationTurn {
    public enum Begin: Sendable, Equatable {
        case plan(TurnPlan)
        /// Ask the model with these messages, then `finish`.
        case needsModel(Conversation, [ChatMessage], LLMSettings)
    }

    /// Speech and keys; a little longer than an interview question, since people think aloud.
    static let listenTimeout = 6

    public static func begin(
        spec: VoiceAgentSpec, state: SessionState?, produced: Int, requestTurn: Int?, input: CallerInput,
        startedAt: Date, now: Date, action: (Int) -> String
    ) -> Begin {
        guard let settings = spec.llm else { return .plan(.reject("not an llm agent")) }
        guard let requestTurn else {
            if produced > 0 { return .plan(.replay(turn: 1)) }
            var conversation = Conversation()
            let next = conversation.start(greeting: spec.greeting)
            return .plan(finish(conversation, next, turn: 1, spec: spec, action: action))
        }
        if requestTurn < produced { return .plan(.replay(turn: requestTurn + 1)) }
        guard requestTurn == produced, case .conversation(var conversation)? = state, conversation.outcome == nil else {
            return .plan(.reject("turn \(requestTurn) is not the one being asked (\(produced) asked)"))
        }
        let next = conversation.hear(input, settings: settings, elapsed: now.timeIntervalSince(startedAt))
        if case .complete(let messages) = next { return .needsModel(conversation, messages, settings) }
        return .plan(finish(conversation, next, turn: requestTurn + 1, spec: spec, action: action))
    }

    /// The TwiML of turn `turn` and what to store.
    public static func finish(
        _ conversation: Conversation, _ next: Conversation.Next, turn: Int, spec: VoiceAgentSpec,
        action: (Int) -> String
    ) -> TurnPlan {
        let twiml: String
        switch next {
        case .say(let text, listen: true):
            twiml = TwiML.listen(
                prompt: text, action: action(turn), timeout: listenTimeout, voice: spec.voice, language: spec.language)
        case .say(let text, listen: false):
            twiml = TwiML.goodbye(text, voice: spec.voice, language: spec.language)
        case .transfer(let to, let text):
            twiml = TwiML.transfer(say: text, to: to, voice: spec.voice, language: spec.language)
        case .complete, .useTools:
            // Never handed here: the model and the tools are the caller's to run.
            twiml = TwiML.goodbye(Conversation.fallback, voice: spec.voice, language: spec.language)
        }
        return .produce(state: .conversation(conversation), twiml: twiml, ended: conversation.outcome)
    }
}
