/// What a producer asks for in a `voice` job: a text-to-speech call.
///
///     {"account": "main", "to": "{{customerPhone}}", "from": "+15551234567",
///      "message": "Hello {{customerName}}, this is a reminder about your appointment on {{date}}.",
///      "voice": "alice", "language": "en-US", "record": false, "timeout": 30,
///      "variables": {…}}
public struct VoiceRequest: Sendable, Codable, Equatable {
    public var account: String
    public var to: String
    public var from: String
    /// A template, or one per language.
    public var message: LocalizedBody
    /// Twilio voice: alice, man, woman, or Polly./Google. voices.
    public var voice: String?
    /// Speech language, e.g. en-US, es-ES, fr-FR.
    public var language: String?
    public var record: Bool?
    /// `mono` (default) or `dual` (each party on its own channel), for a recorded call.
    public var recordingChannels: String?
    /// Ring time in seconds (1…600).
    public var timeout: Int?
    /// Longest call in seconds.
    public var timeLimit: Int?
    /// `Enable` or `DetectMessageEnd`.
    public var machineDetection: String?
    public var statusCallback: String?
    public var variables: [String: JSONValue]?
    /// Quiet hours in the recipient's local time ("08:00-21:00") and their time zone if needed.
    public var sendWindow: String?
    public var timezone: String?

    public init(account: String, to: String, from: String, message: String, variables: [String: JSONValue]? = nil) {
        self.account = account
        self.to = to
        self.from = from
        self.message = .single(message)
        self.variables = variables
    }

    static let fields: Set<String> = [
        "account", "to", "from", "message", "voice", "language", "record", "timeout", "timeLimit", "machineDetection",
        "statusCallback", "variables", "sendWindow", "timezone", "recordingChannels",
    ]

    public static func checkFields(_ object: [String: JSONValue]) throws(InputError) {
        try JobSpec.checkFields(object, allowed: fields, what: "a voice call")
    }

    /// Validates and renders; the error names the field.
    public func resolve() throws(InputError) -> VoiceSpec {
        try JobSpec.validateName(account, field: "account")
        let variables = self.variables ?? [:]
        let to = try PhoneNumber(template: self.to, variables: variables, field: "to")
        let from = try PhoneNumber(template: self.from, variables: variables, field: "from")
        let language = self.language ?? "en-US"
        let text = try Template(try message.text(for: language, field: "message"), field: "message").render(
            variables, field: "message")
        guard !text.allSatisfy(\.isWhitespace) else { throw InputError(field: "message", problem: "is empty") }
        let voice = self.voice ?? "alice"
        try Self.validate(voice: voice, language: language, ringTimeout: timeout)
        let twiml = TwiML.say(text, voice: voice, language: language)
        guard twiml.count <= 4000 else {
            throw InputError(
                field: "message",
                problem: "is too long: the call's TwiML would be \(twiml.count) characters; Twilio allows 4000")
        }
        var spec = VoiceSpec(
            account: account, to: to.e164, from: from.e164, twiml: twiml, record: record ?? false, timeout: timeout,
            timeLimit: timeLimit, machineDetection: machineDetection, statusCallback: statusCallback,
            sendWindow: sendWindow, timezone: timezone)
        spec.recordingChannels = try RecordingChannels.check(recordingChannels, record: record ?? false)
        return try spec.validated()
    }
}

/// A validated call, ready to place.
public struct VoiceSpec: Sendable, Codable, Equatable {
    public var account: String
    public var to: String
    public var from: String
    public var twiml: String
    public var record: Bool
    public var recordingChannels: String? = nil
    public var timeout: Int?
    public var timeLimit: Int?
    public var machineDetection: String?
    public var statusCallback: String?
    public var sendWindow: String?
    public var timezone: String?
}

/// How a recorded call is recorded: `mono` (Twilio's default) or `dual`.
public enum RecordingChannels {
    public static let allowed = ["mono", "dual"]

    /// The channels a job asked for, checked; only a recorded call may ask.
    public static func check(_ channels: String?, record: Bool) throws(InputError) -> String? {
        guard let channels else { return nil }
        guard allowed.contains(channels) else {
            throw InputError(field: "recordingChannels", problem: "'\(channels.prefix(32))' is not one of mono, dual")
        }
        guard record else { throw InputError(field: "recordingChannels", problem: "needs \"record\": true") }
        return channels
    }
}

/// TwiML documents. Text is XML-escaped; TwiML is case-sensitive (`<Say>`, not `<say>`).
public enum TwiML {
    public static func say(_ text: String, voice: String, language: String) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say voice=\"\(escape(voice))\" language=\"\(escape(language))\">"
            + escape(text) + "</Say></Response>"
    }

    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}

extension VoiceRequest {
    /// Checks a Twilio `<Say>` voice, a language tag and a ring time (shared by voice agents).
    static func validate(voice: String, language: String, ringTimeout timeout: Int?) throws(InputError) {
        guard ["alice", "man", "woman"].contains(voice) || voice.hasPrefix("Polly.") || voice.hasPrefix("Google.")
        else {
            throw InputError(
                field: "voice", problem: "'\(voice)' is not a Twilio voice (alice, man, woman, Polly.*, Google.*)")
        }
        let parts = language.split(separator: "-")
        guard (1...2).contains(parts.count), parts[0].count == 2 || parts[0].count == 3,
            parts.allSatisfy({ $0.allSatisfy(\.isLetter) })
        else {
            throw InputError(field: "language", problem: "'\(language)' is not a language tag such as en-US")
        }
        if let timeout, !(1...600).contains(timeout) {
            throw InputError(field: "timeout", problem: "\(timeout) is outside 1…600 seconds")
        }
    }
}
