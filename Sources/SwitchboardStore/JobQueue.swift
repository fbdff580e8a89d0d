import Postgres
import SwitchboardCore

/// What a worker needs from the job queue: the seam between the worker's runtime and its storage.
/// `JobStore` is the PostgreSQL implementation; the worker's tests drive the runtime through an
/// in-memory one, so its decisions (how much to claim, when to wake, when draining ends) are
/// tested without a database and without waiting.
///
/// Every write is guarded by the worker's id and the attempt number: a job this worker no
/// longer holds (rescued, cancelled) is left alone, and the answer says which jobs were written.
public protocol JobQueue: Sendable {
    /// Claims up to `limit` due jobs of `kinds` in `queue`, in (priority, run_at, id) order.
    func claim(queue: String, kinds: [String], limit: Int, workerID: String, lease: Duration) async throws
        -> [ClaimedJob]
    /// Extends the leases of jobs this worker still holds; returns the ids it still holds.
    func extendLeases(_ jobs: [(id: Int64, attempt: Int)], workerID: String, lease: Duration) async throws
        -> Set<Int64>
    /// Records finished attempts; returns the ids written.
    func finish(_ finishes: [JobFinish], workerID: String) async throws -> Set<Int64>
    /// Gives jobs interrupted by shutdown back to the queue, their attempt not counted and their
    /// outcome marked unknown (the next attempt checks for side effects).
    func returnToQueue(_ jobs: [(id: Int64, attempt: Int)], workerID: String, reason: String) async throws
        -> Set<Int64>
    /// Makes jobs whose lease expired available again (or fails those out of attempts).
    func rescueExpired(limit: Int) async throws -> (rescued: Int, failed: Int)
    /// Makes up to `limit` scheduled jobs that have come due available (waking workers once per
    /// queue); returns how many, and how long until the next scheduled job is due (`nil`: none).
    func stageDue(limit: Int) async throws -> (promoted: Int, nextDueIn: Duration?)
    /// Moves up to `limit` jobs that finished more than `age` ago out of the hot table (to
    /// history); returns how many.
    func archive(finishedMoreThan age: Duration, limit: Int) async throws -> Int
    /// Creates history's missing daily partitions up to `daysAhead` days after today; returns how many.
    func createHistoryPartitions(daysAhead: Int) async throws -> Int
    /// Removes finished jobs older than `retention` (whole days of history, and up to `limit`
    /// still in the hot table).
    func prune(olderThan retention: Duration, limit: Int) async throws -> PruneResult
    /// Runs until cancelled, calling `onWork` with the queue of newly available jobs, or with
    /// `nil` when some may have been missed (a reconnect). Throws when notifications cannot be
    /// had at all; the worker then relies on polling.
    func watchForWork(_ onWork: @escaping @Sendable (_ queue: String?) -> Void) async throws
}

/// What one pruning pass removed (jobs, or messages).
public struct PruneResult: Sendable, Equatable {
    /// Rows deleted one by one (those still in the hot table).
    public var deleted = 0
    /// History partitions dropped whole, and PostgreSQL's estimate of the rows they held.
    public var droppedPartitions: [String] = []
    public var droppedRows = 0

    public init(deleted: Int = 0, droppedPartitions: [String] = [], droppedRows: Int = 0) {
        self.deleted = deleted
        self.droppedPartitions = droppedPartitions
        self.droppedRows = droppedRows
    }
}

extension JobStore: JobQueue {
    public func watchForWork(_ onWork: @escaping @Sendable (String?) -> Void) async throws {
        let listener = PostgresListener(configuration: pool.configuration, channels: [Self.notificationChannel])
        for try await event in listener {
            switch event {
            case .notification(let notification): onWork(notification.payload)
            case .reconnected: onWork(nil)
            }
        }
    }
}
