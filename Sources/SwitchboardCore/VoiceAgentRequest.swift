import Foundation

/// What a producer asks for in a `voice_agent` job: a call that runs an interview.
///
///     {"account": "main", "to": "{{phone}}", "from": "+15551234567", "agentType": "questions",
///      "greeting": "Hi {{name}}, this is Acme with a short survey.",
///      "questions": [{"id": "satisfaction_rating", "question": "On a scale of 1 to 10…",
///                     "expectedAnswerType": "number", …}],
///      "variables": {"phone": "+15559876543", "name": "Ana"}}
///
/// Question texts, custom messages and an LLM agent's system prompt are templates rendered with
/// `variables` at enqueue.
public struct VoiceAgentRequest: Sendable, Codable, Equatable {
    public var account: String
    public var to: String
    public var from: String
    /// `questions` (a scripted interview) or `llm` (a conversation with an OpenAI-compatible model).
    public var agentType: String
    public var questions: JSONValue?
    /// `llm` agents: the model, its instructions and limits.
    public var model: String?
    public var systemPrompt: String?
    public var temperature: Double?
    public var maxTokens: Int?
    public var maxConversationTurns: Int?
    /// Minutes.
    public var conversationTimeout: Double?
    public var allowUserHangup: Bool?
    /// `llm` agents: tools the model may call (`AgentTool`).
    public var tools: JSONValue?
    /// Record the call (`recordingUrl` in the result); `mono` or `dual` channels.
    public var record: Bool?
    public var recordingChannels: String?
    /// Said once before the first question.
    public var greeting: String?
    public var voice: String?
    public var language: String?
    /// Ring time in seconds (1…600).
    public var timeout: Int?
    /// The call ends after this many seconds in any case (60…14400; default 1800).
    public var timeLimit: Int?
    public var variables: [String: JSONValue]?
    public var sendWindow: String?
    public var timezone: String?
    /// `gather` or `relay` (ConversationRelay); see `VoiceAgentSpec.transport(publicURL:)`.
    public var transport: String?
    /// Questions agents: the key that repeats the question (`*`, the default, `0`, or "" for none).
    public var repeatKey: String?
    /// Questions agents: the key that skips a question (`*` or `0`; none unless set).
    public var skipKey: String?
    /// ConversationRelay only: see `RelaySettings`.
    public var interruptible: String?
    public var ttsProvider: String?
    public var transcriptionProvider: String?
    public var speechModel: String?
    public var hints: String?

    public init(account: String, to: String, from: String, questions: JSONValue, variables: [String: JSONValue]? = nil)
    {
        self.account = account
        self.to = to
        self.from = from
        agentType = "questions"
        self.questions = questions
        self.variables = variables
    }

    static let fields: Set<String> = [
        "account", "to", "from", "agentType", "questions", "greeting", "voice", "language", "timeout", "timeLimit",
        "variables", "sendWindow", "timezone", "model", "systemPrompt", "temperature", "maxTokens",
        "maxConversationTurns", "conversationTimeout", "allowUserHangup", "transport", "interruptible", "ttsProvider",
        "transcriptionProvider", "speechModel", "hints", "repeatKey", "skipKey", "tools", "record",
        "recordingChannels",
    ]

    public static func checkFields(_ object: [String: JSONValue]) throws(InputError) {
        try JobSpec.checkFields(object, allowed: fields, what: "a voice agent call")
    }

    /// Validates everything, renders the templates; the error names the field.
    public func resolve() throws(InputError) -> VoiceAgentSpec {
        try JobSpec.validateName(account, field: "account")
        let variables = self.variables ?? [:]
        let to = try PhoneNumber(template: self.to, variables: variables, field: "to")
        let from = try PhoneNumber(template: self.from, variables: variables, field: "from")
        var flow: VoiceFlow?
        var llm: LLMSettings?
        switch agentType {
        case "questions":
            guard tools == nil else { throw InputError(field: "tools", problem: "belong to an llm agent") }
            flow = try resolveFlow(variables)
        case "llm": llm = try resolveLLM(variables)
        default:
            throw InputError(field: "agentType", problem: "'\(agentType)' is not one of questions, llm")
        }
        let greeting = try greeting.map { text throws(InputError) in
            try Template(text, field: "greeting").render(variables, field: "greeting")
        }
        let transport = try transport.map { text throws(InputError) in
            guard let transport = VoiceTransport(rawValue: text) else {
                throw InputError(field: "transport", problem: "'\(text)' is not one of gather, relay")
            }
            return transport
        }
        let relay = RelaySettings(
            interruptible: interruptible, ttsProvider: ttsProvider, transcriptionProvider: transcriptionProvider,
            speechModel: speechModel, hints: hints)
        // Voice, language, ring time, time limit, transport and relay settings are checked by `validated()`.
        var spec = VoiceAgentSpec(
            account: account, to: to.e164, from: from.e164, agentType: agentType, flow: flow, llm: llm,
            greeting: greeting, voice: voice ?? "Polly.Joanna", language: language ?? "en-US", timeout: timeout,
            timeLimit: timeLimit ?? 1800, sendWindow: sendWindow, timezone: timezone, transport: transport,
            relay: relay.isEmpty ? nil : relay, repeatKey: repeatKey, skipKey: skipKey)
        if record == true { spec.record = true }
        spec.recordingChannels = try RecordingChannels.check(recordingChannels, record: record ?? false)
        return try spec.validated()
    }
}

extension VoiceAgentRequest {
    func resolveFlow(_ variables: [String: JSONValue]) throws(InputError) -> VoiceFlow {
        guard let questions else { throw InputError(field: "questions", problem: "is required for a questions agent") }
        var flow: VoiceFlow
        do { flow = try VoiceFlow(json: questions) } catch let error as InputError { throw error } catch {
            throw InputError(field: "questions", problem: "\(error)")
        }
        for index in flow.questions.indices {
            let field = "questions[\(index)] '\(flow.questions[index].id)'"
            flow.questions[index].question = try Template(flow.questions[index].question, field: "\(field).question")
                .render(variables, field: "\(field).question")
            for actionIndex in flow.questions[index].conditionalActions.indices {
                guard let message = flow.questions[index].conditionalActions[actionIndex].customMessage else {
                    continue
                }
                let messageField = "\(field).conditionalActions[\(actionIndex)].customMessage"
                flow.questions[index].conditionalActions[actionIndex].customMessage =
                    try Template(message, field: messageField).render(variables, field: messageField)
            }
        }
        return flow
    }

    func resolveLLM(_ variables: [String: JSONValue]) throws(InputError) -> LLMSettings {
        guard questions == nil else {
            throw InputError(field: "questions", problem: "belongs to a questions agent, not an llm one")
        }
        let tools = try tools.map { value throws(InputError) in try AgentTool.parseList(value) }
        guard let model, !model.trimmingSpaces().isEmpty else {
            throw InputError(field: "model", problem: "is required for an llm agent (e.g. gpt-4o-mini)")
        }
        guard let systemPrompt, !systemPrompt.trimmingSpaces().isEmpty else {
            throw InputError(field: "systemPrompt", problem: "is required for an llm agent")
        }
        var settings = LLMSettings(
            model: model,
            systemPrompt: try Template(systemPrompt, field: "systemPrompt").render(variables, field: "systemPrompt"),
            temperature: temperature ?? 0.7, maxTokens: maxTokens ?? 150,
            maxConversationTurns: maxConversationTurns ?? 10,
            conversationTimeout: conversationTimeout ?? 10, allowUserHangup: allowUserHangup ?? true)
        settings.tools = tools.flatMap { $0.isEmpty ? nil : $0 }
        try settings.validate()
        return settings
    }
}
/// A validated voice agent call: the job's payload, and what its session plays.
public struct VoiceAgentSpec: Sendable, Codable, Equatable {
    public var account: String
    public var to: String
    public var from: String
    public var agentType: String
    /// The interview (questions agents).
    public var flow: VoiceFlow?
    /// The model (llm agents).
    public var llm: LLMSettings?
    public var greeting: String?
    public var voice: String
    public var language: String
    public var timeout: Int?
    public var timeLimit: Int
    public var sendWindow: String?
    public var timezone: String?
    /// How the call's turns travel; nil: see `transport(publicURL:)`.
    public var transport: VoiceTransport? = nil
    /// How Twilio listens and speaks over the relay (nil: Twilio's defaults, interruptible by any).
    public var relay: RelaySettings? = nil
    /// Questions agents: the key that repeats the question (nil: `*`).
    public var repeatKey: String? = nil
    /// Questions agents: the key that skips the question (nil: none).
    public var skipKey: String? = nil
    /// Record the call (nil: not recorded).
    public var record: Bool? = nil
    public var recordingChannels: String? = nil

    /// The transport a call uses: the job's, if it names one. Otherwise LLM agents use the relay
    /// when the webhook's public URL is `https://` (ConversationRelay connects only to `wss://`,
    /// the same host behind the same TLS), and `<Gather>` over plain `http://` (development,
    /// the simulator); questions agents use `<Gather>`.
    public func transport(publicURL: String) -> VoiceTransport {
        if let transport { return transport }
        return agentType == "llm" && publicURL.lowercased().hasPrefix("https://") ? .relay : .gather
    }
}

extension VoiceAgentSpec {
    /// The TwiML that connects session `sessionID`'s call to its ConversationRelay socket on the
    /// webhook at `base`. Twilio signs the socket's URL with the account's token; the AccountSid
    /// in the query tells the webhook which token to check it with.
    public func relayTwiML(base: String, sessionID: Int64, accountSID: String) -> String {
        TwiML.conversationRelay(
            url: HTTPURL.webSocketForm(base) + WebhookPaths.relay(sessionID) + "?AccountSid=\(accountSID)",
            action: base + WebhookPaths.relayEnded(sessionID), voice: voice, language: language, settings: relay)
    }
}

/// How a voice agent's turns travel: `<Gather>` round trips (each answer a webhook request), or
/// a ConversationRelay WebSocket (Twilio does speech and barge-in, the webhook streams text).
public enum VoiceTransport: String, Sendable, Codable, Equatable, CaseIterable {
    case gather, relay
}

extension TwiML {
    /// Connects the call to a ConversationRelay socket at `url` (`wss://…`); when the session
    /// ends, Twilio requests `action`. Keys are detected (they answer questions); speech and
    /// voice in `language`.
    public static func conversationRelay(
        url: String, action: String, voice: String, language: String, settings: RelaySettings? = nil
    ) -> String {
        header + "<Response><Connect action=\"\(escape(action))\" method=\"POST\">"
            + "<ConversationRelay url=\"\(escape(url))\" language=\"\(escape(language))\" voice=\"\(escape(voice))\""
            + " dtmfDetection=\"true\"\((settings ?? RelaySettings()).attributes)/></Connect></Response>"
    }

    /// Says `prompt` and listens for speech or keys; the answer (or silence) is posted to `action`.
    public static func gather(
        prompt: String, action: String, question: VoiceFlow.Question, voice: String, language: String,
        before: String? = nil
    ) -> String {
        var attributes = ""
        switch question.expectedAnswerType {
        case .yesNo:
            attributes = " numDigits=\"1\" hints=\"yes, no\""
        case .multipleChoice:
            let choices = question.choices ?? []
            if choices.count <= 9 { attributes = " numDigits=\"1\"" }
            attributes += " hints=\"\(escape(choices.joined(separator: ", ")))\""
        case .number, .text: break
        }
        return listen(
            prompt: prompt, action: action, timeout: question.timeout, voice: voice, language: language,
            before: before, attributes: attributes)
    }

    /// `<Gather>` for speech or keys around a `<Say>`, posting even silence to `action`.
    public static func listen(
        prompt: String, action: String, timeout: Int, voice: String, language: String, before: String? = nil,
        attributes: String = ""
    ) -> String {
        let say = { (text: String) in
            "<Say voice=\"\(escape(voice))\" language=\"\(escape(language))\">\(escape(text))</Say>"
        }
        return header + "<Response>" + (before.map(say) ?? "")
            + "<Gather input=\"speech dtmf\" action=\"\(escape(action))\" method=\"POST\" timeout=\"\(timeout)\""
            + " speechTimeout=\"auto\" actionOnEmptyResult=\"true\" language=\"\(escape(language))\"\(attributes)>"
            + say(prompt) + "</Gather></Response>"
    }

    /// Says `message`, then connects the caller to `to` (a transfer to a person).
    public static func transfer(say message: String, to: String, voice: String, language: String) -> String {
        header + "<Response><Say voice=\"\(escape(voice))\" language=\"\(escape(language))\">" + escape(message)
            + "</Say><Dial>" + escape(to) + "</Dial></Response>"
    }

    /// Starts recording the call at once (`<Start><Recording>`, for calls not placed through the
    /// API with `Record`), its status posted to `callback`.
    public static func startRecording(callback: String, channels: String?) -> String {
        "<Start><Recording recordingStatusCallback=\"\(escape(callback))\" recordingStatusCallbackEvent=\"completed absent\""
            + " channels=\"\(escape(channels ?? "mono"))\"/></Start>"
    }

    /// `document` with `verbs` run first.
    public static func prepending(_ verbs: String, to document: String) -> String {
        guard let range = document.range(of: "<Response>") else { return document }
        return document.replacingCharacters(in: range, with: "<Response>" + verbs)
    }

    /// Connects the caller to `to`.
    public static func dial(_ to: String) -> String {
        header + "<Response><Dial>" + escape(to) + "</Dial></Response>"
    }

    /// Hangs up.
    public static let hangup = header + "<Response><Hangup/></Response>"

    /// Says `message` and hangs up.
    public static func goodbye(_ message: String, voice: String, language: String) -> String {
        header + "<Response><Say voice=\"\(escape(voice))\" language=\"\(escape(language))\">" + escape(message)
            + "</Say><Hangup/></Response>"
    }
}
