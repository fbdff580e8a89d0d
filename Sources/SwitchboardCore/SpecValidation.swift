import Foundation

// A job's payload is only as trustworthy as whoever wrote it: `enqueue` and the CLI store
// validated specs, but a producer can INSERT any JSON shaped like one. The worker therefore checks
// every spec again before it sends (`validated()`), with the same rules and field names as at
// enqueue, and recomputes what it derives (segments, encoding) instead of trusting the payload.

extension MessageSpec {
    /// Every rule `MessageRequest.resolve` enforces, on an already rendered message. Returns the
    /// spec with its segment count and encoding computed from the body.
    public func validated() throws(InputError) -> MessageSpec {
        try validated(parsedTo: nil, parsedFrom: nil)
    }

    /// As `validated()`, with `to` and `from` already parsed into these addresses (a campaign
    /// import renders them from parsed addresses: parsing each again was a tenth of its CPU).
    func validated(parsedTo: ChannelAddress?, parsedFrom: ChannelAddress?) throws(InputError) -> MessageSpec {
        try JobSpec.validateName(account, field: "account")
        let toAddress: ChannelAddress
        if let parsedTo { toAddress = parsedTo } else { toAddress = try ChannelAddress(parsing: to, field: "to") }
        var fromAddress = parsedFrom
        if fromAddress == nil, let from { fromAddress = try ChannelAddress(parsing: from, field: "from") }
        switch channel {
        case .sms:
            if toAddress.isWhatsApp {
                throw InputError(field: "to", problem: "'\(to)' is a WhatsApp address; use a whatsapp job")
            }
            if fromAddress?.isWhatsApp == true {
                throw InputError(field: "from", problem: "'\(from ?? "")' is a WhatsApp address; use a whatsapp job")
            }
        case .whatsapp:
            guard toAddress.isWhatsApp else {
                throw InputError(field: "to", problem: "'\(to)' must be a whatsapp: address in a whatsapp job")
            }
            if let fromAddress, !fromAddress.isWhatsApp {
                throw InputError(
                    field: "from", problem: "'\(from ?? "")' must be a whatsapp: address in a whatsapp job")
            }
        }
        if let sid = messagingServiceSid, !TwilioSID.isValid(sid, prefix: "MG") {
            throw InputError(
                field: "messagingServiceSid", problem: "'\(sid)' is not a Messaging Service SID (MG + 32 hex digits)")
        }
        if let pool { try JobSpec.validateName(pool, field: "pool") }
        guard from != nil || messagingServiceSid != nil || pool != nil else {
            throw InputError(field: "from", problem: "is required (or give pool or messagingServiceSid)")
        }
        if pool != nil && (from != nil || messagingServiceSid != nil) {
            throw InputError(field: "pool", problem: "give either pool or from/messagingServiceSid, not both")
        }
        guard mediaUrls.count <= 10 else {
            throw InputError(field: "mediaUrls", problem: "\(mediaUrls.count) URLs; Twilio allows at most 10")
        }
        for url in mediaUrls where !HTTPURL.isHTTP(url) {
            throw InputError(field: "mediaUrls", problem: "'\(url.prefix(100))' is not an http(s) URL")
        }
        if let validityPeriod, !(1...36000).contains(validityPeriod) {
            throw InputError(field: "validityPeriod", problem: "\(validityPeriod) is outside 1…36000 seconds")
        }
        if let statusCallback, !HTTPURL.isHTTP(statusCallback) {
            throw InputError(field: "statusCallback", problem: "'\(statusCallback.prefix(100))' is not an http(s) URL")
        }
        if let contentSid, !TwilioSID.isValid(contentSid, prefix: "HX") {
            throw InputError(
                field: "contentSid", problem: "'\(contentSid)' is not a Content Template SID (HX + 32 hex digits)")
        }
        if let contentVariables {
            guard case .object? = try? JSONDecoder().decode(JSONValue.self, from: Data(contentVariables.utf8)) else {
                throw InputError(field: "contentVariables", problem: "must be a JSON object")
            }
        }
        guard body != nil || !mediaUrls.isEmpty || contentSid != nil else {
            throw InputError(field: "body", problem: "is required (or give mediaUrls or contentSid)")
        }
        var checked = self
        let count = try body.map { text throws(InputError) in
            try Segments.validate(text, field: "body", smartEncoding: smartEncoding)
        }
        checked.segments = count?.segments ?? 1
        checked.encoding = count?.encoding ?? .gsm7
        return checked
    }
}

extension VoiceSpec {
    /// The rules `VoiceRequest.resolve` enforces. The TwiML must be what `resolve` produces: one
    /// `<Say>` of escaped text, so a hand-written payload cannot make a call dial or play anything else.
    public func validated() throws(InputError) -> VoiceSpec {
        try JobSpec.validateName(account, field: "account")
        _ = try PhoneNumber(parsing: to, field: "to")
        _ = try PhoneNumber(parsing: from, field: "from")
        guard let say = TwiML.parseSay(twiml) else {
            throw InputError(field: "twiml", problem: "is not a single <Say> of the call's message")
        }
        try VoiceRequest.validate(voice: say.voice, language: say.language, ringTimeout: timeout)
        guard twiml.count <= 4000 else {
            throw InputError(
                field: "message", problem: "is too long: \(twiml.count) characters of TwiML; Twilio allows 4000")
        }
        if let timeLimit, !(1...14400).contains(timeLimit) {
            throw InputError(field: "timeLimit", problem: "\(timeLimit) is outside 1…14400 seconds")
        }
        if let machineDetection, !["Enable", "DetectMessageEnd"].contains(machineDetection) {
            throw InputError(
                field: "machineDetection", problem: "'\(machineDetection)' must be Enable or DetectMessageEnd")
        }
        if let statusCallback, !HTTPURL.isHTTP(statusCallback) {
            throw InputError(field: "statusCallback", problem: "'\(statusCallback.prefix(100))' is not an http(s) URL")
        }
        return self
    }
}

extension TwiML {
    /// The voice, language and (escaped) text of a document `say(_:voice:language:)` made, or nil.
    static func parseSay(_ document: String) -> (voice: String, language: String, text: String)? {
        let head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say voice=\""
        let tail = "</Say></Response>"
        guard document.hasPrefix(head), document.hasSuffix(tail), document.count >= head.count + tail.count else {
            return nil
        }
        let inner = document.dropFirst(head.count).dropLast(tail.count)
        guard let voiceEnd = inner.firstIndex(of: "\"") else { return nil }
        let voice = inner[..<voiceEnd]
        let rest = inner[voiceEnd...]
        let languageMark = "\" language=\""
        guard rest.hasPrefix(languageMark) else { return nil }
        let afterMark = rest.dropFirst(languageMark.count)
        guard let languageEnd = afterMark.firstIndex(of: "\"") else { return nil }
        let language = afterMark[..<languageEnd]
        let closing = afterMark[languageEnd...]
        guard closing.hasPrefix("\">") else { return nil }
        let text = closing.dropFirst(2)
        // Escaped text has no markup of its own.
        guard !text.contains("<"), !text.contains(">"), !voice.contains("<"), !language.contains("<") else {
            return nil
        }
        return (String(voice), String(language), String(text))
    }
}

extension VoiceAgentSpec {
    /// The rules `VoiceAgentRequest.resolve` enforces, on the rendered spec.
    public func validated() throws(InputError) -> VoiceAgentSpec {
        try JobSpec.validateName(account, field: "account")
        _ = try PhoneNumber(parsing: to, field: "to")
        _ = try PhoneNumber(parsing: from, field: "from")
        switch agentType {
        case "questions":
            guard let flow, llm == nil else {
                throw InputError(field: "questions", problem: "is required for a questions agent")
            }
            try flow.validate()
        case "llm":
            guard let llm, flow == nil else {
                throw InputError(field: "model", problem: "is required for an llm agent (e.g. gpt-4o-mini)")
            }
            try llm.validate()
        default:
            throw InputError(field: "agentType", problem: "'\(agentType)' is not one of questions, llm")
        }
        try VoiceRequest.validate(voice: voice, language: language, ringTimeout: timeout)
        guard (60...14400).contains(timeLimit) else {
            throw InputError(field: "timeLimit", problem: "\(timeLimit) is outside 60…14400 seconds")
        }
        for (field, key) in [("repeatKey", repeatKey), ("skipKey", skipKey)] {
            guard let key else { continue }
            guard Interview.keypadKeys.contains(key) else {
                throw InputError(
                    field: field,
                    problem: "'\(key.prefix(8))' is not one of *, 0 or \"\" (none); # ends keypad input on <Gather>")
            }
            guard agentType == "questions" else {
                throw InputError(field: field, problem: "belongs to a questions agent")
            }
        }
        if let skipKey, !skipKey.isEmpty, skipKey == (repeatKey ?? "*") {
            throw InputError(field: "skipKey", problem: "'\(skipKey)' is also the repeat key (repeatKey)")
        }
        if let relay {
            try relay.validate()
            if transport == .gather {
                throw InputError(
                    field: relay.firstField ?? "transport",
                    problem: "is a ConversationRelay setting: it needs \"transport\": \"relay\", not gather")
            }
        }
        return self
    }
}

extension VoiceFlow {
    /// A stored flow checked as if it had just been given: encoded and parsed again.
    func validate(field: String = "questions") throws(InputError) {
        do {
            let data = try JSONEncoder().encode(self)
            let json = try JSONDecoder().decode(JSONValue.self, from: data)
            _ = try VoiceFlow(json: json, field: field)
        } catch let error as InputError {
            throw error
        } catch {
            throw InputError(field: field, problem: "cannot be read: \(error)")
        }
    }
}

extension LLMSettings {
    /// The ranges `VoiceAgentRequest` enforces at enqueue.
    func validate() throws(InputError) {
        guard !model.trimmingSpaces().isEmpty else {
            throw InputError(field: "model", problem: "is required for an llm agent (e.g. gpt-4o-mini)")
        }
        guard !systemPrompt.trimmingSpaces().isEmpty else {
            throw InputError(field: "systemPrompt", problem: "is required for an llm agent")
        }
        guard (0...2).contains(temperature) else {
            throw InputError(field: "temperature", problem: "\(temperature) is outside 0…2")
        }
        guard (1...4096).contains(maxTokens) else {
            throw InputError(field: "maxTokens", problem: "\(maxTokens) is outside 1…4096")
        }
        guard (1...100).contains(maxConversationTurns) else {
            throw InputError(field: "maxConversationTurns", problem: "\(maxConversationTurns) is outside 1…100")
        }
        guard conversationTimeout >= 0.5 && conversationTimeout <= 240 else {
            throw InputError(
                field: "conversationTimeout", problem: "\(conversationTimeout) minutes is outside 0.5…240")
        }
    }
}
