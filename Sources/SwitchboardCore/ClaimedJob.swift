import Foundation

/// A JSON document as text, as the database stores it: decoded where it is used, so a job's
/// payload reaches handlers without a driver type.
public struct JSONText: Sendable, Hashable, CustomStringConvertible {
    public var text: String

    public init(_ text: String) { self.text = text }

    public var description: String { text }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}

/// A job handed to a worker; finishing it must quote `attempt` (the guard against stale workers).
public struct ClaimedJob: Sendable {
    public var id: Int64
    public var kind: String
    public var queue: String
    public var attempt: Int
    public var maxAttempts: Int
    public var payload: JSONText
    /// A previous attempt ended without a known outcome: check for its side effects before repeating them.
    public var previousOutcomeUnknown: Bool
    public var createdAt: Date
    /// What the handler stored at its last snooze (`{}` at first).
    public var metadata: JSONText = JSONText("{}")
    /// The database's clock at the claim: what times stored in the metadata (a booked slot) are
    /// compared with, so no host's own clock enters.
    public var claimedAt: Date? = nil
    /// This process's monotonic clock when the claim's answer arrived: the database's clock now is
    /// `claimedAt` plus the time elapsed since.
    public var claimArrived: ContinuousClock.Instant? = nil

    public init(
        id: Int64, kind: String, queue: String, attempt: Int, maxAttempts: Int, payload: JSONText,
        previousOutcomeUnknown: Bool = false, createdAt: Date, metadata: JSONText = JSONText("{}"),
        claimedAt: Date? = nil, claimArrived: ContinuousClock.Instant? = nil
    ) {
        self.id = id
        self.kind = kind
        self.queue = queue
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.payload = payload
        self.previousOutcomeUnknown = previousOutcomeUnknown
        self.createdAt = createdAt
        self.metadata = metadata
        self.claimedAt = claimedAt
        self.claimArrived = claimArrived
    }
}
