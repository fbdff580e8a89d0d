import Logging
import SwitchboardCore
import SwitchboardStore

/// What a handler gets besides the job.
public struct JobContext: Sendable {
    public var job: ClaimedJob
    public var workerID: String
    private let workerLogger: Logger
    /// Until when this worker surely holds the job's lease. After it, the job may have been
    /// rescued and given to another worker, so a handler must not start a side effect (a send)
    /// that might not end before: see `leaseOutlasts(_:)`.
    public var leaseHeldUntil: @Sendable () -> ContinuousClock.Instant

    /// `logger` is the worker's: the context's own adds the job's id and kind.
    public init(
        job: ClaimedJob, logger: Logger, workerID: String,
        leaseHeldUntil: @escaping @Sendable () -> ContinuousClock.Instant
    ) {
        self.job = job
        self.workerLogger = logger
        self.workerID = workerID
        self.leaseHeldUntil = leaseHeldUntil
    }

    /// The worker's logger with the job's id and kind. Made when asked, not per job: most jobs
    /// never log, and the metadata cost a few per cent of a busy worker's CPU.
    public var logger: Logger {
        var logger = workerLogger
        logger[metadataKey: "job.id"] = "\(job.id)"
        logger[metadataKey: "job.kind"] = "\(job.kind)"
        return logger
    }

    /// Whether an action that ends within `deadline` from now ends while the lease surely holds
    /// (with a second to spare for clock steps and scheduling).
    public func leaseOutlasts(_ deadline: Duration) -> Bool {
        ContinuousClock.now + deadline + .seconds(1) <= leaseHeldUntil()
    }
}

/// Runs one attempt of a job. Return an outcome, or throw: a thrown `PermanentJobError` fails the
/// job at once, any other error is retried with backoff. Handlers should honour task cancellation
/// (shutdown, lost lease).
public typealias JobHandler = @Sendable (ClaimedJob, JobContext) async throws -> JobOutcome

/// Throw an error conforming to this to fail the job without retries.
public protocol PermanentJobError: Error {}

/// Maps job kinds to handlers.
public struct HandlerRegistry: Sendable {
    public private(set) var handlers: [String: JobHandler] = [:]

    public init() {}

    public mutating func register(_ kind: String, _ handler: @escaping JobHandler) {
        handlers[kind] = handler
    }

    public var kinds: [String] { handlers.keys.sorted() }

    /// The registry every worker starts with: the `noop` kind.
    public static var standard: HandlerRegistry {
        var registry = HandlerRegistry()
        registry.register(NoopJob.kind, NoopJob.run)
        return registry
    }
}

/// `noop`: does nothing, for benchmarks, tests and the demo. Its payload may ask it to misbehave:
/// `{"sleep_ms": 200}` waits first (honouring cancellation), `{"fail": "reason"}` fails
/// (`"permanent": true` without retries), `"fail_attempts": 2` fails only the first two attempts.
public enum NoopJob {
    public static let kind = "noop"

    struct Options: Decodable {
        var sleep_ms: Int?
        var fail: String?
        var permanent: Bool?
        var fail_attempts: Int?
    }

    struct PermanentFailure: PermanentJobError, CustomStringConvertible {
        var description: String
    }

    @Sendable public static func run(_ job: ClaimedJob, _ context: JobContext) async throws -> JobOutcome {
        // The common case `{}` skips JSON decoding: the benchmark measures the queue, not Foundation.
        guard job.payload.text != "{}" else { return .completed(result: nil) }
        let options = try job.payload.decode(Options.self)
        if let sleep = options.sleep_ms, sleep > 0 {
            try await Task.sleep(for: .milliseconds(sleep))
        }
        if let reason = options.fail, job.attempt <= options.fail_attempts ?? Int.max {
            return .failed(error: reason, permanent: options.permanent ?? false)
        }
        return .completed(result: nil)
    }
}
