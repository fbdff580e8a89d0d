import Foundation

/// How an LLM voice agent behaves (the `llm` agent's fields of a `voice_agent` job).
public struct LLMSettings: Sendable, Codable, Equatable {
    public var model: String
    public var systemPrompt: String
    /// 0–2.
    public var temperature: Double
    public var maxTokens: Int
    /// Caller turns answered before the agent says goodbye.
    public var maxConversationTurns: Int
    /// Minutes from the answer after which the call ends.
    public var conversationTimeout: Double
    /// A caller's goodbye ("bye", "that's all") ends the call.
    public var allowUserHangup: Bool

    public init(
        model: String, systemPrompt: String, temperature: Double, maxTokens: Int, maxConversationTurns: Int,
        conversationTimeout: Double, allowUserHangup: Bool
    ) {
        self.model = model
        self.systemPrompt = systemPrompt
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.maxConversationTurns = maxConversationTurns
        self.conversationTimeout = conversationTimeout
        self.allowUserHangup = allowUserHangup
    }
}

/// A message of the chat history sent to an OpenAI-compatible API.
public struct ChatMessage: Sendable, Codable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// The state of one LLM voice conversation and its transitions, pure: the webhook asks what to do
/// with what the caller said, calls the model when told to, and reports the reply or the failure.
public struct Conversation: Sendable, Equatable, Codable {
    /// User and assistant messages so far (the system prompt is added per request).
    public private(set) var history: [ChatMessage] = []
    public private(set) var turns = 0
    public private(set) var silences = 0
    public private(set) var outcome: AgentOutcome?
    public private(set) var promptTokens = 0
    public private(set) var completionTokens = 0

    public enum Next: Sendable, Equatable {
        /// Say this and listen for the caller (`listen` false: then hang up).
        case say(String, listen: Bool)
        /// Ask the model for the next reply to these messages.
        case complete([ChatMessage])
    }

    public static let defaultGreeting = "Hello! How can I help you today?"
    public static let stillThere = "Are you still there? Please go ahead."
    public static let fallback = "Sorry, I'm having trouble answering right now. Could you say that again?"
    public static let closing = "Thank you for calling. Goodbye."
    public static let timeUp = "We have run out of time for this call. Thank you for calling. Goodbye."
    public static let maxSilences = 2

    public init() {}

    /// The call was answered: the greeting is the assistant's first message.
    public mutating func start(greeting: String?) -> Next {
        let text = greeting ?? Self.defaultGreeting
        history.append(ChatMessage(role: "assistant", content: text))
        return .say(text, listen: true)
    }

    /// What the caller said, `elapsed` seconds after the answer.
    public mutating func hear(_ input: CallerInput, settings: LLMSettings, elapsed: TimeInterval) -> Next {
        if elapsed > settings.conversationTimeout * 60 { return end(.timeout, Self.timeUp) }
        let heard =
            !input.isSilent && !(input.digits == nil && (input.confidence ?? 1) < AnswerNormalizer.minimumConfidence)
        guard heard else {
            silences += 1
            if silences > Self.maxSilences { return end(.unanswered, Self.closing) }
            return .say(Self.stillThere, listen: true)
        }
        silences = 0
        history.append(ChatMessage(role: "user", content: input.text))
        if settings.allowUserHangup && Self.isGoodbye(input.text) { return end(.callerGoodbye, Self.closing) }
        turns += 1
        return .complete([ChatMessage(role: "system", content: settings.systemPrompt)] + history)
    }

    /// The model answered.
    public mutating func reply(_ text: String, promptTokens: Int, completionTokens: Int, settings: LLMSettings)
        -> Next
    {
        self.promptTokens += promptTokens
        self.completionTokens += completionTokens
        let spoken = text.trimmingSpaces().isEmpty ? Self.fallback : text.trimmingSpaces()
        history.append(ChatMessage(role: "assistant", content: spoken))
        if turns >= settings.maxConversationTurns { return end(.maxTurns, spoken + " " + Self.closing) }
        return .say(spoken, listen: true)
    }

    /// The caller spoke over the answer (ConversationRelay's `interrupt`): only what was heard
    /// stays in the history, so the model does not believe it said the rest. Works whether the
    /// streamed answer was already stored (it is cut to `heard`) or not (`heard` is added).
    public mutating func interrupted(heard: String, promptTokens: Int = 0, completionTokens: Int = 0) {
        self.promptTokens += promptTokens
        self.completionTokens += completionTokens
        let heard = heard.trimmingSpaces()
        if history.last?.role == "assistant" { history.removeLast() }
        if !heard.isEmpty { history.append(ChatMessage(role: "assistant", content: heard)) }
    }

    /// The model failed or missed its deadline: the caller hears a short fallback and may say it
    /// again; the unanswered message leaves the history so the retry is not sent twice.
    public mutating func failed() -> Next {
        if history.last?.role == "user" { history.removeLast() }
        turns = max(0, turns - 1)
        return .say(Self.fallback, listen: true)
    }

    private mutating func end(_ outcome: AgentOutcome, _ message: String) -> Next {
        self.outcome = outcome
        history.append(ChatMessage(role: "assistant", content: message))
        return .say(message, listen: false)
    }

    static let goodbyes: Set<String> = [
        "bye", "goodbye", "good bye", "bye bye", "that's all", "that is all", "that's it", "nothing else",
        "no that's all", "no that's it", "hang up", "i'm done", "we're done",
    ]

    /// A goodbye ends the call: the whole answer is a closing phrase, or it ends with "bye".
    public static func isGoodbye(_ text: String) -> Bool {
        let words = AnswerNormalizer.tokens(text)
        let phrase = words.joined(separator: " ")
        if goodbyes.contains(phrase) { return true }
        guard let last = words.last else { return false }
        return last == "bye" || last == "goodbye"
    }
}
