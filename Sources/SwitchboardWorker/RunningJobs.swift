import SwitchboardCore
import SwitchboardStore
import Synchronization

/// The jobs this worker is running, with a way to cancel each one. Thread-safe.
final class RunningJobs: Sendable {
    struct Entry {
        var attempt: Int
        /// Until when the lease surely holds: the lease counted from before the claim or the last
        /// heartbeat that kept it was sent (the database counted it from later).
        var leaseHeldUntil: ContinuousClock.Instant
        var cancel: (@Sendable () -> Void)?
        /// Set when the lease was lost or shutdown cancelled the job: its finish must not be recorded.
        var interrupted: Interruption?
    }

    enum Interruption: Sendable {
        case leaseLost
        case shutdown
    }

    private let entries = Mutex<[Int64: Entry]>([:])

    var count: Int { entries.withLock { $0.count } }

    var snapshot: [(id: Int64, attempt: Int)] {
        entries.withLock { $0.map { (id: $0.key, attempt: $0.value.attempt) } }
    }

    func start(_ job: ClaimedJob, leaseHeldUntil: ContinuousClock.Instant) {
        entries.withLock { $0[job.id] = Entry(attempt: job.attempt, leaseHeldUntil: leaseHeldUntil) }
    }

    /// A heartbeat kept these leases.
    func extend(_ ids: some Sequence<Int64>, leaseHeldUntil: ContinuousClock.Instant) {
        entries.withLock { entries in
            for id in ids { entries[id]?.leaseHeldUntil = leaseHeldUntil }
        }
    }

    /// Until when the job's lease surely holds; nil once it ended.
    func leaseHeldUntil(_ id: Int64) -> ContinuousClock.Instant? {
        entries.withLock { $0[id]?.leaseHeldUntil }
    }

    /// Registers the cancel action; returns false if the job was interrupted before it started.
    func setCancel(_ id: Int64, _ cancel: @escaping @Sendable () -> Void) -> Bool {
        entries.withLock { entries in
            entries[id]?.cancel = cancel
            return entries[id]?.interrupted == nil
        }
    }

    /// Removes the job; tells whether it was interrupted.
    func end(_ id: Int64) -> Interruption? {
        entries.withLock { $0.removeValue(forKey: id)?.interrupted }
    }

    func interrupt(_ ids: some Sequence<Int64>, because reason: Interruption) {
        let cancels: [@Sendable () -> Void] = entries.withLock { entries in
            ids.compactMap { id in
                guard entries[id] != nil else { return nil }
                entries[id]?.interrupted = reason
                return entries[id]?.cancel
            }
        }
        cancels.forEach { $0() }
    }

    func interruptAll(because reason: Interruption) {
        interrupt(entries.withLock { Array($0.keys) }, because: reason)
    }
}
