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
    /// Deletes up to `limit` finished jobs older than `retention`; returns how many.
    func prune(olderThan retention: Duration, limit: Int) async throws -> Int
    /// Runs until cancelled, calling `onWork` with the queue of newly available jobs, or with
    /// `nil` when some may have been missed (a reconnect). Throws when notifications cannot be
    /// had at all; the worker then relies on polling.
    func watchForWork(_ onWork: @escaping @Sendable (_ queue: String?) -> Void) async throws
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
