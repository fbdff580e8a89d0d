import Foundation
import Postgres
import SwitchboardCore

/// A job to enqueue. `validate()` checks every field before anything is written.
public struct NewJob: Sendable {
    public var kind: String
    /// A JSON object.
    public var payload: PostgresJSON
    public var queue: String
    /// Smaller runs first (0…1000).
    public var priority: Int
    /// Not before this time; `nil` means now.
    public var runAt: Date?
    public var maxAttempts: Int
    /// Unique among live jobs: enqueueing the same key again returns the existing job.
    public var idempotencyKey: String?

    public init(
        kind: String, payload: PostgresJSON = PostgresJSON(text: "{}"), queue: String = JobSpec.defaultQueue,
        priority: Int = JobSpec.defaultPriority, runAt: Date? = nil, maxAttempts: Int = JobSpec.defaultMaxAttempts,
        idempotencyKey: String? = nil
    ) {
        self.kind = kind
        self.payload = payload
        self.queue = queue
        self.priority = priority
        self.runAt = runAt
        self.maxAttempts = maxAttempts
        self.idempotencyKey = idempotencyKey
    }

    public func validate() throws(InputError) {
        try JobSpec.validateName(kind, field: "kind")
        try JobSpec.validateName(queue, field: "queue")
        try JobSpec.validatePriority(priority)
        try JobSpec.validateMaxAttempts(maxAttempts)
        try JobSpec.validateIdempotencyKey(idempotencyKey)
        try Self.validatePayload(payload.text)
    }

    static func validatePayload(_ text: String) throws(InputError) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        } catch {
            throw InputError(field: "payload", problem: "is not valid JSON")
        }
        guard object is [String: Any] else {
            throw InputError(field: "payload", problem: "must be a JSON object ({…})")
        }
    }
}

/// The answer to an enqueue.
public struct EnqueuedJob: Sendable, Equatable {
    public var id: Int64
    /// True when a live job already held the idempotency key; nothing new was inserted.
    public var existing: Bool

    public init(id: Int64, existing: Bool) {
        self.id = id
        self.existing = existing
    }
}

/// A job as stored.
public struct JobRecord: Sendable {
    public var id: Int64
    public var kind: String
    public var queue: String
    public var priority: Int
    public var state: JobState
    public var runAt: Date
    public var attempt: Int
    public var maxAttempts: Int
    public var payload: PostgresJSON
    public var result: PostgresJSON?
    public var errors: [AttemptErrorRecord]
    public var outcomeUnknown: Bool
    public var lockedBy: String?
    public var lockedUntil: Date?
    public var idempotencyKey: String?
    public var createdAt: Date
    public var attemptedAt: Date?
    public var finishedAt: Date?
}

/// One entry of a job's error history.
public struct AttemptErrorRecord: Sendable, Codable, Equatable {
    public var attempt: Int
    public var at: String
    public var error: String
    public var kind: String
}

/// A job handed to a worker; finishing it must quote `attempt` (the guard against stale workers).
public struct ClaimedJob: Sendable {
    public var id: Int64
    public var kind: String
    public var queue: String
    public var attempt: Int
    public var maxAttempts: Int
    public var payload: PostgresJSON
    /// A previous attempt ended without a known outcome: check for its side effects before repeating them.
    public var previousOutcomeUnknown: Bool
    public var createdAt: Date
    /// What the handler stored at its last snooze (`{}` at first).
    public var metadata: PostgresJSON = PostgresJSON(text: "{}")
    /// The database's clock at the claim: what times stored in the metadata (a booked slot) are
    /// compared with, so no host's own clock enters.
    public var claimedAt: Date? = nil
    /// This process's monotonic clock when the claim's answer arrived: the database's clock now is
    /// `claimedAt` plus the time elapsed since.
    public var claimArrived: ContinuousClock.Instant? = nil

    public init(
        id: Int64, kind: String, queue: String, attempt: Int, maxAttempts: Int, payload: PostgresJSON,
        previousOutcomeUnknown: Bool = false, createdAt: Date, metadata: PostgresJSON = PostgresJSON(text: "{}"),
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

/// A finished attempt to record.
public struct JobFinish: Sendable {
    public var id: Int64
    public var attempt: Int
    public var transition: JobTransition

    public init(id: Int64, attempt: Int, transition: JobTransition) {
        self.id = id
        self.attempt = attempt
        self.transition = transition
    }
}
