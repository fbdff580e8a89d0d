/// The lifecycle states of a job, as stored in `switchboard.jobs.state`.
public enum JobState: String, Sendable, CaseIterable, Codable {
    /// Due later than the scheduling horizon (`JobState.schedulingHorizon`): outside the claim
    /// path until the stager makes it `available` when it comes due.
    case scheduled
    /// Waiting to run at `run_at` (new, retrying after a short backoff, snoozed briefly, or
    /// come due).
    case available
    /// Claimed by a worker holding a lease.
    case running
    case completed
    /// Gave up: attempts exhausted or a permanent error.
    case failed
    case cancelled

    public var isFinished: Bool { self == .completed || self == .failed || self == .cancelled }

    /// A job due later than this from now is `scheduled`, not `available`. The same value as the
    /// schema's `switchboard.scheduling_horizon()` (a test compares them).
    public static let schedulingHorizon: Duration = .seconds(5)
}

/// What a handler reports about one attempt.
public enum JobOutcome: Sendable, Equatable {
    /// Done; `result` is a JSON object (text) stored in `jobs.result`.
    case completed(result: String?)
    /// The attempt failed. Permanent errors (bad input, opted-out recipient, bad credentials) are
    /// never retried; others are retried with backoff until `max_attempts`.
    case failed(error: String, permanent: Bool)
    /// Run again after `delay` without consuming an attempt (e.g. waiting for a rate-limit slot).
    /// `metadata` (a JSON object) replaces the job's metadata, which the next attempt receives.
    case snoozed(delay: Duration, metadata: String? = nil)
    /// Stop for good without counting as a failure.
    case cancelled(reason: String)
    /// The attempt may or may not have had its effect (the request reached Twilio, the answer was
    /// lost). Retried like a failure, but the next attempt is told to check before repeating it.
    case outcomeUnknown(error: String)
}

/// Why an attempt ended without success, as recorded in `jobs.errors[].kind`.
public enum AttemptErrorKind: String, Sendable, Codable {
    /// The handler reported or threw an error; a retry follows if attempts remain.
    case error
    /// The handler reported a permanent error; no retry.
    case permanent
    /// The worker lost the job (crash, lease expired): whether the attempt's side effects happened is unknown.
    case unknownOutcome = "unknown_outcome"
    /// The worker shut down before the attempt finished; the job went back to the queue.
    case interrupted
    /// The job was cancelled.
    case cancelled
}

/// The row change that follows an attempt: the pure decision the store carries out.
public struct JobTransition: Sendable, Equatable {
    public var state: JobState
    /// For `available`: run again this long after now.
    public var delay: Duration?
    public var result: String?
    public var error: String?
    public var errorKind: AttemptErrorKind?
    /// A snooze does not count as an attempt.
    public var givesBackAttempt: Bool
    /// The next attempt must check whether this one had its effect.
    public var outcomeUnknown: Bool
    /// Replaces `jobs.metadata` when set.
    public var metadata: String?

    public init(
        state: JobState, delay: Duration? = nil, result: String? = nil, error: String? = nil,
        errorKind: AttemptErrorKind? = nil, givesBackAttempt: Bool = false, outcomeUnknown: Bool = false,
        metadata: String? = nil
    ) {
        self.state = state
        self.delay = delay
        self.result = result
        self.error = error
        self.errorKind = errorKind
        self.givesBackAttempt = givesBackAttempt
        self.outcomeUnknown = outcomeUnknown
        self.metadata = metadata
    }

    /// Decides what happens after attempt number `attempt` (1-based) of a job allowed
    /// `maxAttempts` ended with `outcome`.
    public static func after(
        _ outcome: JobOutcome, attempt: Int, maxAttempts: Int, policy: RetryPolicy,
        unitRandom: @autoclosure () -> Double
    ) -> JobTransition {
        switch outcome {
        case .completed(let result):
            return JobTransition(state: .completed, result: result)
        case .cancelled(let reason):
            return JobTransition(state: .cancelled, error: reason, errorKind: .cancelled)
        case .snoozed(let delay, let metadata):
            let delay = Swift.max(delay, .zero)
            return JobTransition(state: waiting(delay), delay: delay, givesBackAttempt: true, metadata: metadata)
        case .outcomeUnknown(let error):
            if attempt >= maxAttempts {
                return JobTransition(state: .failed, error: error, errorKind: .unknownOutcome, outcomeUnknown: true)
            }
            let delay = policy.delay(afterAttempt: attempt, unitRandom: unitRandom())
            return JobTransition(
                state: waiting(delay), delay: delay, error: error, errorKind: .unknownOutcome, outcomeUnknown: true)
        case .failed(let error, let permanent):
            if permanent {
                return JobTransition(state: .failed, error: error, errorKind: .permanent)
            }
            if attempt >= maxAttempts {
                return JobTransition(state: .failed, error: error, errorKind: .error)
            }
            let delay = policy.delay(afterAttempt: attempt, unitRandom: unitRandom())
            return JobTransition(state: waiting(delay), delay: delay, error: error, errorKind: .error)
        }
    }

    /// A job that runs again after `delay`: in the claim path if that is soon, else scheduled.
    static func waiting(_ delay: Duration) -> JobState {
        delay > JobState.schedulingHorizon ? .scheduled : .available
    }
}
