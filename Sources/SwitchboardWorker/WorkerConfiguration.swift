import Foundation
import SwitchboardCore

/// Settings of one worker process. Defaults suit a worker sending through Twilio.
public struct WorkerConfiguration: Sendable {
    /// Queues to take jobs from, in order of preference.
    public var queues: [String] = [JobSpec.defaultQueue]
    /// Jobs running at once in this process.
    public var concurrency: Int = 50
    /// Most jobs claimed by one query.
    public var batchSize: Int = 100
    /// Claims out at once, each for its share of the free capacity: with 2, the database claims
    /// the next jobs while the worker starts those of the previous answer.
    public var claimsInFlight: Int = 2
    /// How often to look for work when no notification arrives (and the retry cadence after errors).
    public var pollInterval: Duration = .seconds(1)
    /// Wake on NOTIFY. Turn off behind PgBouncer in transaction pooling mode (LISTEN needs a session).
    public var listen: Bool = true
    /// How long a claim holds a job without a heartbeat.
    public var lease: Duration = .seconds(60)
    public var heartbeatInterval: Duration = .seconds(15)
    /// On shutdown, how long running jobs may take before they are cancelled and returned to the queue.
    public var shutdownGracePeriod: Duration = .seconds(10)
    /// How often to look for jobs whose lease expired.
    public var rescueInterval: Duration = .seconds(15)
    /// The longest the stager waits between looks for scheduled jobs that came due (it wakes
    /// sooner when the next one is due sooner). Below the scheduling horizon, so a job scheduled
    /// meanwhile is never seen late.
    public var stageInterval: Duration = .seconds(1)
    /// Finished jobs leave the hot table for `job_history` this long after they finished; `nil`
    /// keeps them in the hot table until the pruner deletes them.
    public var archiveAfter: Duration? = .seconds(60)
    /// How often the archiver looks for finished jobs to move (at once again after a full batch).
    public var archiveInterval: Duration = .seconds(5)
    /// Finished jobs older than this are deleted; `nil` keeps them forever.
    public var retention: Duration? = .seconds(7 * 24 * 3600)
    public var pruneInterval: Duration = .seconds(600)
    /// Finished attempts waiting to be written beyond which the worker claims nothing more.
    public var maxBacklog: Int = 20_000
    public var retryPolicy = RetryPolicy()
    /// Identifies this worker in `jobs.locked_by`.
    public var workerID: String = WorkerConfiguration.defaultWorkerID()

    public init() {}

    public static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return "\(host):\(getpid()):\(suffix)"
    }

    /// Checks the settings; the error names the setting.
    public func validate() throws(InputError) {
        guard !queues.isEmpty else { throw .init(field: "queues", problem: "at least one queue is needed") }
        for queue in queues { try JobSpec.validateName(queue, field: "queues") }
        guard concurrency >= 1 else { throw .init(field: "concurrency", problem: "\(concurrency) must be at least 1") }
        guard (1...max(1, concurrency)).contains(claimsInFlight) else {
            throw .init(field: "claims_in_flight", problem: "\(claimsInFlight) must be between 1 and the concurrency")
        }
        guard batchSize >= 1 else { throw .init(field: "batch_size", problem: "\(batchSize) must be at least 1") }
        guard pollInterval > .zero else { throw .init(field: "poll_interval", problem: "must be positive") }
        guard lease >= .seconds(1) else { throw .init(field: "lease", problem: "must be at least 1 second") }
        guard heartbeatInterval > .zero, heartbeatInterval * 2 <= lease else {
            throw .init(field: "heartbeat_interval", problem: "must be positive and at most half the lease")
        }
        guard maxBacklog >= 1 else { throw .init(field: "max_backlog", problem: "\(maxBacklog) must be at least 1") }
        guard rescueInterval > .zero else { throw .init(field: "rescue_interval", problem: "must be positive") }
        guard stageInterval > .zero, stageInterval < JobState.schedulingHorizon else {
            throw .init(
                field: "stage_interval",
                problem: "must be positive and below the scheduling horizon (\(JobState.schedulingHorizon))")
        }
        if let archiveAfter, archiveAfter < .zero {
            throw .init(field: "archive_after", problem: "must not be negative")
        }
        if let archiveAfter, let retention, archiveAfter >= retention {
            throw .init(field: "archive_after", problem: "must be shorter than the retention (\(retention))")
        }
    }
}
