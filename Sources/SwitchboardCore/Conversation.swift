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
    /// What the model may call (nil: nothing; sessions stored before tools existed have none).
    public var tools: [AgentTool]? = nil

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
    /// An assistant message that asked for tools.
    public var toolCalls: [ToolCall]? = nil
    /// A `tool` message: the call it answers.
    public var toolCallId: String? = nil

    public init(role: String, content: String, toolCalls: [ToolCall]? = nil, toolCallId: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallId = toolCallId
    }

    /// Said aloud (caller or agent), not a tool exchange without words.
    public var isSpoken: Bool { role != "tool" && !(toolCalls != nil && content.isEmpty) }
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

    /// Tool rounds (model asks, tools answer) since the caller last spoke.
    public private(set) var toolRounds = 0
    /// What the agent said in this turn before calling tools: said with the turn's final answer
    /// where answers are spoken whole (`<Gather>`).
    public private(set) var saidBeforeTools = ""

    public enum Next: Sendable, Equatable {
        /// Say this and listen for the caller (`listen` false: then hang up).
        case say(String, listen: Bool)
        /// Ask the model for the next reply to these messages.
        case complete([ChatMessage])
        /// Run these tool calls, then hand their results to `toolResults`.
        case useTools([ToolCall])
        /// Say this, then connect the caller to `to` (the `transfer_call` tool).
        case transfer(to: String, say: String)
    }

    /// Rounds of tool calls one caller turn may take before the model must answer in words.
    public static let maxToolRounds = 3
    public static let transferring = "Please hold while I transfer you."

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
        toolRounds = 0
        saidBeforeTools = ""
        history.append(ChatMessage(role: "user", content: input.text))
        if settings.allowUserHangup && Self.isGoodbye(input.text) { return end(.callerGoodbye, Self.closing) }
        turns += 1
        return .complete([ChatMessage(role: "system", content: settings.systemPrompt)] + history)
    }

    /// The model answered: words, or calls of its tools (with any words said first). Past
    /// `maxToolRounds` in one turn, tool calls are ignored and the words (or the fallback) said.
    public mutating func reply(
        _ text: String, toolCalls: [ToolCall] = [], promptTokens: Int, completionTokens: Int, settings: LLMSettings
    ) -> Next {
        self.promptTokens += promptTokens
        self.completionTokens += completionTokens
        let words = text.trimmingSpaces()
        if !toolCalls.isEmpty, toolRounds < Self.maxToolRounds {
            toolRounds += 1
            history.append(ChatMessage(role: "assistant", content: words, toolCalls: toolCalls))
            if !words.isEmpty { saidBeforeTools += (saidBeforeTools.isEmpty ? "" : " ") + words }
            return .useTools(toolCalls)
        }
        let spoken = words.isEmpty ? Self.fallback : words
        history.append(ChatMessage(role: "assistant", content: spoken))
        if turns >= settings.maxConversationTurns { return end(.maxTurns, spoken + " " + Self.closing) }
        return .say(spoken, listen: true)
    }

    /// What the tools answered (in the order asked): back to the model, unless one ends the call
    /// (`end_call`: the words said with the call are the goodbye) or transfers it.
    public mutating func toolResults(_ results: [ToolResult], settings: LLMSettings) -> Next {
        for result in results {
            history.append(ChatMessage(role: "tool", content: result.content, toolCallId: result.callID))
        }
        let said = history.last { $0.role == "assistant" }?.content ?? ""
        for result in results {
            switch result.effect {
            case .transfer(let to):
                outcome = .transferred
                guard said.isEmpty else { return .transfer(to: to, say: said) }
                history.append(ChatMessage(role: "assistant", content: Self.transferring))
                return .transfer(to: to, say: Self.transferring)
            case .endCall:
                outcome = .agentEnded
                guard said.isEmpty else { return .say(said, listen: false) }
                history.append(ChatMessage(role: "assistant", content: Self.closing))
                return .say(Self.closing, listen: false)
            case .none:
                continue
            }
        }
        return .complete([ChatMessage(role: "system", content: settings.systemPrompt)] + history)
    }

    /// Every tool call of the conversation with what it answered, in order (for the job's result).
    public var toolUses: [(call: ToolCall, result: String?)] {
        var answers: [String: String] = [:]
        for message in history where message.role == "tool" {
            if let id = message.toolCallId { answers[id] = message.content }
        }
        return history.flatMap { $0.toolCalls ?? [] }.map { ($0, answers[$0.id]) }
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
