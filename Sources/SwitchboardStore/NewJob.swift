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
