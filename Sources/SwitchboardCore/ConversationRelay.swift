import Foundation

/// Twilio ConversationRelay's WebSocket protocol (realtime-voice.md §1.1): what Twilio sends,
/// parsed leniently, and what the app sends, encoded exactly. Pure: the socket lives in the
/// webhook, the conversation in the session machines.
public enum ConversationRelay {
    /// Twilio's messages are small (a prompt is one utterance); anything larger is refused
    /// unread, so a hostile peer cannot make us parse megabytes.
    public static let maxMessageBytes = 64 * 1024

    /// The call's details, sent once right after the socket opens.
    public struct Setup: Sendable, Equatable {
        public var sessionID: String
        public var callSID: String
        public var from: String
        public var to: String
        public var direction: String?
        /// From the `<Parameter>` children of `<ConversationRelay>`.
        public var customParameters: [String: String]

        public init(
            sessionID: String, callSID: String, from: String, to: String, direction: String? = nil,
            customParameters: [String: String] = [:]
        ) {
            self.sessionID = sessionID
            self.callSID = callSID
            self.from = from
            self.to = to
            self.direction = direction
            self.customParameters = customParameters
        }
    }

    /// A message from Twilio.
    public enum Event: Sendable, Equatable {
        case setup(Setup)
        /// What the caller said; `last` is false only for interim results (`partialPrompts`).
        case prompt(text: String, language: String?, last: Bool)
        case dtmf(digit: String)
        /// The caller spoke over the agent: `heard` is what was played before, `playedMs` for how
        /// long (nil when Twilio's value is unreadable).
        case interrupt(heard: String, playedMs: Int?)
        /// Twilio refused a message of ours (error 64107); the session goes on.
        case error(description: String)
        /// A type this version does not know (Twilio adds some): logged and ignored.
        case other(type: String)
    }

    /// Why a message could not be read at all; the socket stays open (the message is ignored).
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Twilio's message for the caller's final words (`prompt` with `last`), as the simulator and
    /// `bench relay` play Twilio's side.
    public static func finalPrompt(_ words: String) -> String {
        JSONValue.object([
            "type": .string("prompt"), "voicePrompt": .string(words), "lang": .string("en-US"), "last": .bool(true),
        ]).jsonText
    }

    /// Reads one text frame. Durations may be numbers or numeric strings (Twilio's own example
    /// sends `"460"`), booleans may be strings, and unknown fields are ignored.
    public static func parse(_ text: String) throws(ParseError) -> Event {
        guard text.utf8.count <= maxMessageBytes else {
            throw ParseError(description: "message of \(text.utf8.count) bytes (at most \(maxMessageBytes))")
        }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)),
            case .object(let object) = value
        else { throw ParseError(description: "not a JSON object") }
        guard case .string(let type)? = object["type"] else { throw ParseError(description: "type is missing") }
        func string(_ key: String) -> String? {
            switch object[key] {
            case .string(let text)?: text
            case .int(let number)?: String(number)
            case .double(let number)?: JSONValue.double(number).description
            default: nil
            }
        }
        switch type {
        case "setup":
            guard let callSID = string("callSid"), !callSID.isEmpty else {
                throw ParseError(description: "setup: callSid is missing")
            }
            var parameters: [String: String] = [:]
            if case .object(let custom)? = object["customParameters"] {
                for (key, value) in custom { parameters[key] = value.description }
            }
            return .setup(
                Setup(
                    sessionID: string("sessionId") ?? "", callSID: callSID, from: string("from") ?? "",
                    to: string("to") ?? "", direction: string("direction"), customParameters: parameters))
        case "prompt":
            return .prompt(
                text: string("voicePrompt") ?? "", language: string("lang"), last: flag(object["last"]) ?? true)
        case "dtmf":
            guard let digit = string("digit"), !digit.isEmpty else {
                throw ParseError(description: "dtmf: digit is missing")
            }
            return .dtmf(digit: digit)
        case "interrupt":
            return .interrupt(
                heard: string("utteranceUntilInterrupt") ?? "",
                playedMs: milliseconds(object["durationUntilInterruptMs"]))
        case "error":
            return .error(description: string("description") ?? "")
        default:
            return .other(type: type)
        }
    }

    static func flag(_ value: JSONValue?) -> Bool? {
        switch value {
        case .bool(let flag)?: flag
        case .string(let text)?: ["true": true, "false": false][text.lowercased()]
        case .int(let number)?: number != 0
        default: nil
        }
    }

    /// A duration in milliseconds from a number or a numeric string, rounded; nil if unreadable
    /// or out of range (a call lasts hours, not years).
    static func milliseconds(_ value: JSONValue?) -> Int? {
        let number: Double? =
            switch value {
            case .int(let number)?: Double(number)
            case .double(let number)?: number
            case .string(let text)?: Double(text.trimmingCharacters(in: .whitespaces))
            default: nil
            }
        guard let number, number.isFinite, number >= 0, number < 1e10 else { return nil }
        return Int(number.rounded())
    }

    /// A message to Twilio.
    public enum Command: Sendable, Equatable {
        /// Part of the agent's answer, spoken as it arrives; `last` ends the answer.
        case text(token: String, last: Bool, interruptible: Bool? = nil, preemptible: Bool? = nil)
        case play(source: String, loop: Int? = nil, interruptible: Bool? = nil, preemptible: Bool? = nil)
        case sendDigits(String)
        case language(tts: String?, transcription: String?)
        /// Ends the session; Twilio then requests the `<Connect action>` URL with `HandoffData`.
        case end(handoffData: String?)

        /// The frame's text: only protocol fields, so Twilio never answers with 64107.
        public var json: String {
            var object: [String: JSONValue]
            switch self {
            case .text(let token, let last, let interruptible, let preemptible):
                object = ["type": .string("text"), "token": .string(token), "last": .bool(last)]
                object["interruptible"] = interruptible.map(JSONValue.bool)
                object["preemptible"] = preemptible.map(JSONValue.bool)
            case .play(let source, let loop, let interruptible, let preemptible):
                object = ["type": .string("play"), "source": .string(source)]
                object["loop"] = loop.map { .int(Int64($0)) }
                object["interruptible"] = interruptible.map(JSONValue.bool)
                object["preemptible"] = preemptible.map(JSONValue.bool)
            case .sendDigits(let digits):
                object = ["type": .string("sendDigits"), "digits": .string(digits)]
            case .language(let tts, let transcription):
                object = ["type": .string("language")]
                object["ttsLanguage"] = tts.map(JSONValue.string)
                object["transcriptionLanguage"] = transcription.map(JSONValue.string)
            case .end(let handoffData):
                object = ["type": .string("end")]
                object["handoffData"] = handoffData.map(JSONValue.string)
            }
            return JSONValue.object(object).jsonText
        }
    }
}
