/// The ConversationRelay attributes a voice-agent job may set (with `"transport": "relay"`): what
/// may interrupt the agent, and who does the speech. Attribute names and values as Twilio's
/// `<ConversationRelay>` reference gives them; unknown provider names are Twilio's to refuse, so
/// only their shape is checked here (they are written into TwiML attributes).
public struct RelaySettings: Sendable, Codable, Equatable {
    /// What may interrupt the agent's speech: `any` (speech or keys, the default), `speech`,
    /// `dtmf`, `none`.
    public var interruptible: String?
    /// Text-to-speech provider, e.g. `ElevenLabs`, `Google`, `Amazon`.
    public var ttsProvider: String?
    /// Speech-to-text provider, e.g. `Deepgram`, `Google`.
    public var transcriptionProvider: String?
    /// The transcription provider's model, e.g. `nova-3-general`.
    public var speechModel: String?
    /// Comma-separated words or phrases recognition should expect (product names, for instance).
    public var hints: String?

    public init(
        interruptible: String? = nil, ttsProvider: String? = nil, transcriptionProvider: String? = nil,
        speechModel: String? = nil, hints: String? = nil
    ) {
        self.interruptible = interruptible
        self.ttsProvider = ttsProvider
        self.transcriptionProvider = transcriptionProvider
        self.speechModel = speechModel
        self.hints = hints
    }

    public static let interruptions = ["any", "speech", "dtmf", "none"]

    public var isEmpty: Bool { self == RelaySettings() }

    /// The name of the first setting given, for errors.
    var firstField: String? {
        [
            ("interruptible", interruptible), ("ttsProvider", ttsProvider),
            ("transcriptionProvider", transcriptionProvider), ("speechModel", speechModel), ("hints", hints),
        ].first { $0.1 != nil }?.0
    }

    public func validate() throws(InputError) {
        if let interruptible, !Self.interruptions.contains(interruptible) {
            throw InputError(
                field: "interruptible",
                problem: "'\(interruptible.prefix(40))' is not one of \(Self.interruptions.joined(separator: ", "))")
        }
        for (field, value) in [("ttsProvider", ttsProvider), ("transcriptionProvider", transcriptionProvider)] {
            guard let value else { continue }
            guard (1...32).contains(value.count), value.allSatisfy({ $0.isASCII && $0.isLetter }) else {
                throw InputError(field: field, problem: "'\(value.prefix(40))' is not a provider name (1–32 letters)")
            }
        }
        if let speechModel {
            guard (1...64).contains(speechModel.count),
                speechModel.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })
            else {
                throw InputError(
                    field: "speechModel",
                    problem: "'\(speechModel.prefix(40))' is not a model name (1–64 letters, digits, . _ -)")
            }
        }
        if let hints {
            guard hints.count <= 500,
                !hints.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else {
                throw InputError(field: "hints", problem: "must be at most 500 characters, without control characters")
            }
        }
    }

    /// The attributes on `<ConversationRelay>`, escaped (interruptible `any` unless set).
    var attributes: String {
        var text = " interruptible=\"\(TwiML.escape(interruptible ?? "any"))\""
        for (name, value) in [
            ("ttsProvider", ttsProvider), ("transcriptionProvider", transcriptionProvider),
            ("speechModel", speechModel), ("hints", hints),
        ] {
            if let value { text += " \(name)=\"\(TwiML.escape(value))\"" }
        }
        return text
    }
}
