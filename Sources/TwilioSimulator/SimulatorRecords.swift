import Foundation
import SwitchboardCore
import Twilio

/// A message the simulator accepted, with what happened to it.
public struct SimulatedMessage: Sendable {
    public var resource: TwilioMessage
    /// When the create request was accepted (for rate and exactly-once assertions).
    public var receivedAt: ContinuousClock.Instant
    public var receivedAtDate: Date
    public var statusCallback: String?
    public var segments: Int
    /// Decided at creation when the outcome does not depend on the recipient (queue overflow).
    var forcedOutcome: SimulatorConfiguration.DeliveryOutcome?
    /// When the message leaves the sender's queue (equals `receivedAt` when unthrottled).
    public var sendAt: ContinuousClock.Instant
    /// The carrier of its recipient (whose limits it met).
    public var carrier: Carrier = .other
    /// Statuses posted to the status callback, in order.
    public var callbacks: [String] = []
    /// What the message was charged, as Twilio writes it ("-0.00790"), and from when the REST
    /// API shows it (`priceDelay` after it was sent); nil: never priced.
    public var price: String?
    public var priceVisibleAt: Date?
}

/// A call the simulator accepted.
public struct SimulatedCall: Sendable {
    public var resource: TwilioCall
    public var receivedAt: ContinuousClock.Instant
    public var twiml: String?
    public var url: String?
    public var statusCallback: String?
    public var callbacks: [String] = []
    /// What the call was charged and from when the REST API shows it (as for messages).
    public var price: String?
    public var priceVisibleAt: Date?
    /// What happened on the call: what Twilio said, what the caller answered, where it went.
    public var transcript: [CallEvent] = []
    /// Over ConversationRelay: every `text` token the agent sent, when it arrived.
    public var tokens: [ReceivedToken] = []
    /// `outbound-api` (placed through the API) or `inbound` (someone called one of our numbers).
    public var direction = "outbound-api"
    /// `Record=true`: recorded, with its recording's status posted here when the call ends.
    public var record = false
    public var recordingChannels: String?
    public var recordingStatusCallback: String?
}

extension SimulatedCall {
    /// The person on the call, whose scripted answers it plays: the callee of an outbound call,
    /// the caller of an inbound one.
    public var person: String { direction == "inbound" ? resource.from : resource.to }
}

/// A recording the simulator made of a recorded call.
public struct SimulatedRecording: Sendable, Equatable {
    public var sid: String
    public var account: String
    public var callSID: String
    public var duration: Int
    public var channels: Int
    /// `DELETE Recordings/{sid}.json` removed it.
    public var deleted = false
}

/// A `text` message of the agent's, as the simulated Twilio received it.
public struct ReceivedToken: Sendable, Equatable {
    public var token: String
    public var last: Bool
    public var at: ContinuousClock.Instant
}

/// One step of a simulated call, for assertions.
public enum CallEvent: Sendable, Equatable {
    case said(String)
    case played(String)
    case gathered(speech: String?, digits: String?)
    case silence
    case recorded
    /// `<Dial>`: the caller was connected to this number (the call ends when that leg does).
    case dialed(String)
    case fetched(url: String)
    case hungUp
    /// Over ConversationRelay: the caller spoke over the agent, having heard `heard`.
    case interrupted(heard: String)
    /// The TwiML could not be used (fetch failed, not XML, unknown verb): Twilio's 11200/12100/12200.
    case error(code: Int, detail: String)
}

extension CallEvent: CustomStringConvertible {
    public var description: String {
        switch self {
        case .said(let text): "said: \(text)"
        case .played(let url): "played: \(url)"
        case .gathered(let speech, let digits): "gathered: \(speech ?? "") \(digits.map { "#" + $0 } ?? "")"
        case .silence: "silence"
        case .recorded: "recorded"
        case .dialed(let number): "dialed: \(number)"
        case .fetched(let url): "fetched: \(url)"
        case .hungUp: "hung up"
        case .interrupted(let heard): "interrupted after: \(heard)"
        case .error(let code, let detail): "error \(code): \(detail)"
        }
    }
}

/// Twilio's formats: SIDs (`SM` + 32 hex), RFC 2822 dates.
enum TwilioFormat {
    static func rfc2822(_ date: Date) -> String {
        var seconds = Int(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return String(
            format: "%@, %02d %@ %04d %02d:%02d:%02d +0000", days[Int(parts.tm_wday)], Int(parts.tm_mday),
            months[Int(parts.tm_mon)], Int(parts.tm_year) + 1900, Int(parts.tm_hour), Int(parts.tm_min),
            Int(parts.tm_sec))
    }

    static func day(_ date: Date) -> String {
        String(rfc2822(date).prefix(16))
    }
}

/// A small deterministic generator (SplitMix64) for SIDs and fault decisions.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func sid(_ prefix: String) -> String {
        prefix + String(format: "%016llx%016llx", next(), next())
    }

    mutating func chance(_ probability: Double) -> Bool {
        probability > 0 && Double(next() >> 11) / Double(1 << 53) < probability
    }
}
