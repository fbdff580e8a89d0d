/// What a producer asks for in an `sms` or `whatsapp` job, before validation: templates allowed
/// in `to`, `from` and `body`, a body per language, workflow variables.
///
///     {"account": "main", "to": "{{customerPhone}}", "from": "+15551234567",
///      "body": "Hi {{customerName}}! Order #{{orderNumber}} has shipped.",
///      "variables": {"customerPhone": "+15559876543", "customerName": "Ana", "orderNumber": 1042}}
public struct MessageRequest: Sendable, Codable, Equatable {
    public var account: String
    public var to: String
    public var from: String?
    public var messagingServiceSid: String?
    /// A number pool (Switchboard's own, like a Messaging Service): the worker picks the sender.
    public var pool: String?
    /// A template, or a template per language (`{"en": "…", "es": "…"}`).
    public var body: LocalizedBody?
    public var language: String?
    public var variables: [String: JSONValue]?
    public var mediaUrls: [String]?
    public var smartEncoding: Bool?
    /// Seconds Twilio may queue the message (1…36000).
    public var validityPeriod: Int?
    public var statusCallback: String?
    /// WhatsApp/Content API template (`HX…`) and its variables.
    public var contentSid: String?
    public var contentVariables: [String: JSONValue]?
    /// Quiet hours: send only inside this daily window of the recipient's local time ("08:00-21:00").
    public var sendWindow: String?
    /// The recipient's time zone (e.g. America/New_York), when the number does not tell it.
    public var timezone: String?

    public init(
        account: String, to: String, from: String? = nil, body: String? = nil, variables: [String: JSONValue]? = nil
    ) {
        self.account = account
        self.to = to
        self.from = from
        self.body = body.map(LocalizedBody.single)
        self.variables = variables
    }

    static let fields: Set<String> = [
        "account", "to", "from", "messagingServiceSid", "pool", "body", "language", "variables", "mediaUrls",
        "smartEncoding",
        "validityPeriod", "statusCallback", "contentSid", "contentVariables", "sendWindow", "timezone",
    ]
}

/// A body template, or one per language.
public enum LocalizedBody: Sendable, Codable, Equatable {
    case single(String)
    case perLanguage([String: String])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .single(text)
        } else {
            self = .perLanguage(try container.decode([String: String].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .single(let text): try container.encode(text)
        case .perLanguage(let texts): try container.encode(texts)
        }
    }

    func text(for language: String?, field: String) throws(InputError) -> String {
        switch self {
        case .single(let text): text
        case .perLanguage(let texts): try LocalizedText(texts).text(for: language, field: field)
        }
    }
}

/// A validated message, ready to send: what the worker sends and what the job's payload holds.
public struct MessageSpec: Sendable, Codable, Equatable {
    public var channel: Channel
    public var account: String
    public var to: String
    public var from: String?
    public var messagingServiceSid: String?
    public var pool: String?
    public var body: String?
    public var mediaUrls: [String]
    public var smartEncoding: Bool
    public var validityPeriod: Int?
    public var statusCallback: String?
    public var contentSid: String?
    /// JSON text, as Twilio's ContentVariables parameter wants it.
    public var contentVariables: String?
    public var segments: Int
    public var encoding: SMSEncoding
    /// Quiet hours (validated by the sending layer, which also fills in the time zone).
    public var sendWindow: String?
    public var timezone: String?
    /// Set for messages of a campaign: the worker checks the campaign's state before sending.
    public var campaignId: Int64?

    public enum Channel: String, Sendable, Codable {
        case sms
        case whatsapp
    }
}

extension MessageRequest {
    /// Validates and renders everything; the error names the field (`to`, `body`, `variables.name`…).
    public func resolve(channel: MessageSpec.Channel) throws(InputError) -> MessageSpec {
        try prepared(channel: channel).resolve(variables: variables ?? [:])
    }

    /// The request with its templates parsed, to be rendered with many recipients' variables (a
    /// campaign import renders one per row): syntax errors surface here, once.
    public func prepared(channel: MessageSpec.Channel) throws(InputError) -> PreparedMessage {
        try JobSpec.validateName(account, field: "account")
        let fromTemplate = try from.map { source throws(InputError) in try Template(source, field: "from") }
        return PreparedMessage(
            request: self, channel: channel, to: try Template(to, field: "to"), from: fromTemplate,
            constantFrom: fromTemplate?.constantText.map { text in
                Result { () throws(InputError) in try ChannelAddress(parsing: text, field: "from") }
            },
            body: try body.map { body throws(InputError) in
                try Template(try body.text(for: language, field: "body"), field: "body")
            })
    }
}

/// A `MessageRequest` whose templates are parsed (`MessageRequest.prepared(channel:)`).
public struct PreparedMessage: Sendable {
    let request: MessageRequest
    let channel: MessageSpec.Channel
    let to: Template
    let from: Template?
    /// A sender without tags, parsed once (its error, if any, is every row's).
    let constantFrom: Result<ChannelAddress, InputError>?
    let body: Template?

    /// Renders and validates the message for `variables`; the error names the field.
    /// `recipient`: the number `to` renders to when the caller parsed it already (an import's
    /// phone column), so it is not parsed again.
    public func resolve(variables: [String: JSONValue], recipient: PhoneNumber? = nil) throws(InputError)
        -> MessageSpec
    {
        let toText = try to.render(variables, field: "to")
        var toAddress =
            if let recipient, recipient.e164 == toText { ChannelAddress.phone(recipient) } else {
                try ChannelAddress(parsing: toText, field: "to")
            }
        var fromAddress: ChannelAddress?
        if let constantFrom {
            fromAddress = try constantFrom.get()
        } else if let from {
            fromAddress = try ChannelAddress(parsing: try from.render(variables, field: "from"), field: "from")
        }
        if channel == .whatsapp {
            // Plain numbers are accepted and addressed on WhatsApp.
            toAddress = .whatsapp(toAddress.number)
            fromAddress = fromAddress.map { .whatsapp($0.number) }
        }
        let text = try body.map { template throws(InputError) in try template.render(variables, field: "body") }
        let spec = MessageSpec(
            channel: channel, account: request.account, to: toAddress.description, from: fromAddress?.description,
            messagingServiceSid: request.messagingServiceSid, pool: request.pool, body: text,
            mediaUrls: request.mediaUrls ?? [], smartEncoding: request.smartEncoding ?? false,
            validityPeriod: request.validityPeriod, statusCallback: request.statusCallback,
            contentSid: request.contentSid,
            contentVariables: request.contentVariables.map { JSONValue.object($0).jsonText }, segments: 1,
            encoding: .gsm7, sendWindow: request.sendWindow, timezone: request.timezone)
        return try spec.validated(parsedTo: toAddress, parsedFrom: fromAddress)
    }
}

extension MessageRequest {
    /// Checks a request object for fields this version does not know (typos).
    public static func checkFields(_ object: [String: JSONValue]) throws(InputError) {
        try JobSpec.checkFields(object, allowed: fields, what: "a message")
    }
}

extension JSONValue {
    /// Compact JSON text with sorted keys.
    public var jsonText: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .int(let value): return String(value)
        case .double(let value): return value.isFinite ? String(value) : "null"
        case .string(let value): return Self.quote(value)
        case .array(let values): return "[" + values.map(\.jsonText).joined(separator: ",") + "]"
        case .object(let object):
            return "{" + object.keys.sorted().map { Self.quote($0) + ":" + object[$0]!.jsonText }.joined(separator: ",")
                + "}"
        }
    }

    static func quote(_ text: String) -> String {
        // Most text needs no escape: one pass over its bytes, then one copy.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            return "\"" + text + "\""
        }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
