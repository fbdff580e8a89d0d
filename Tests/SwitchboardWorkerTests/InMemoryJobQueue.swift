import Foundation
import SwitchboardCore
import SwitchboardStore
import Synchronization

/// A `JobQueue` in memory, for testing the worker's runtime without PostgreSQL (Oban's `Inline`
/// engine, postgres-nio's `MockConnection`). It keeps the guards that matter to the runtime:
/// writes name the worker and the attempt, and a job another worker took is not written.
/// `QueueTests` check the real SQL against the same contract.
final class InMemoryJobQueue: JobQueue {
    struct Job {
        var id: Int64
        var kind: String
        var queue: String
        var state: JobState = .available
        var attempt = 0
        var maxAttempts: Int
        var runAt: ContinuousClock.Instant
        var lockedBy: String?
        var errors: [String] = []
        var result: String?
        var returnedToQueue = 0
    }

    struct State {
        var jobs: [Int64: Job] = [:]
        var nextID: Int64 = 1
        var claims: [(queue: String, limit: Int)] = []
        /// Ids whose lease the next heartbeat does not extend (another worker took them).
        var stolen: Set<Int64> = []
        /// What the next rescues answer (rescued counts), then 0; and how many were asked for.
        var rescueAnswers: [Int] = []
        var rescueCalls = 0
        /// How long a finish takes to be written (a slow database).
        var finishDelay: Duration = .zero
        /// Heartbeats fail while set (the database is unreachable); and how many were asked for.
        var heartbeatsFail = false
        var heartbeatCalls = 0
    }

    let state = Mutex(State())
    private let notifications = AsyncStream<String>.makeStream()

    /// Adds jobs due now, or `scheduled` ones due after `delay` (as the schema's insert does past
    /// the horizon).
    @discardableResult
    func add(
        kind: String, queue: String = "default", maxAttempts: Int = 3, count: Int = 1, delay: Duration = .zero
    ) -> [Int64] {
        let ids = state.withLock { state in
            (0..<count).map { _ in
                let id = state.nextID
                state.nextID += 1
                state.jobs[id] = Job(
                    id: id, kind: kind, queue: queue,
                    state: delay > JobState.schedulingHorizon ? .scheduled : .available,
                    maxAttempts: maxAttempts, runAt: .now + delay)
                return id
            }
        }
        if delay <= .zero { notifications.continuation.yield(queue) }
        return ids
    }

    func job(_ id: Int64) -> Job? { state.withLock { $0.jobs[id] } }

    func count(_ state: JobState) -> Int { self.state.withLock { $0.jobs.values.filter { $0.state == state }.count } }

    var claims: [(queue: String, limit: Int)] { state.withLock { $0.claims } }

    func steal(_ id: Int64) { state.withLock { _ = $0.stolen.insert(id) } }

    // MARK: JobQueue

    func claim(queue: String, kinds: [String], limit: Int, workerID: String, lease: Duration) async throws
        -> [ClaimedJob]
    {
        let now = ContinuousClock.now
        return state.withLock { state in
            state.claims.append((queue, limit))
            let due = state.jobs.values
                .filter { $0.state == .available && $0.queue == queue && kinds.contains($0.kind) && $0.runAt <= now }
                .sorted { ($0.runAt, $0.id) < ($1.runAt, $1.id) }
                .prefix(limit)
            return due.map { job in
                state.jobs[job.id]!.state = .running
                state.jobs[job.id]!.attempt += 1
                state.jobs[job.id]!.lockedBy = workerID
                return ClaimedJob(
                    id: job.id, kind: job.kind, queue: job.queue, attempt: job.attempt + 1,
                    maxAttempts: job.maxAttempts, payload: JSONText("{}"), previousOutcomeUnknown: false,
                    createdAt: Date())
            }
        }
    }

    func extendLeases(_ jobs: [(id: Int64, attempt: Int)], workerID: String, lease: Duration) async throws
        -> Set<Int64>
    {
        try state.withLock { state in
            state.heartbeatCalls += 1
            if state.heartbeatsFail { throw UnreachableDatabase() }
            for id in state.stolen { state.jobs[id]?.lockedBy = "another worker" }
            return Set(jobs.filter { state.holds($0, workerID) }.map(\.id))
        }
    }

    func finish(_ finishes: [JobFinish], workerID: String) async throws -> Set<Int64> {
        let delay = state.withLock { $0.finishDelay }
        if delay > .zero { try await Task.sleep(for: delay) }
        return state.withLock { state in
            var written = Set<Int64>()
            for finish in finishes where state.holds((finish.id, finish.attempt), workerID) {
                let transition = finish.transition
                var job = state.jobs[finish.id]!
                job.state = transition.state
                job.lockedBy = nil
                if transition.givesBackAttempt { job.attempt -= 1 }
                if let error = transition.error { job.errors.append(error) }
                job.result = transition.result
                job.runAt = .now + (transition.delay ?? .zero)
                state.jobs[finish.id] = job
                written.insert(finish.id)
            }
            return written
        }
    }

    func returnToQueue(_ jobs: [(id: Int64, attempt: Int)], workerID: String, reason: String) async throws
        -> Set<Int64>
    {
        state.withLock { state in
            var written = Set<Int64>()
            for job in jobs where state.holds(job, workerID) {
                state.jobs[job.id]!.state = .available
                state.jobs[job.id]!.attempt -= 1
                state.jobs[job.id]!.lockedBy = nil
                state.jobs[job.id]!.returnedToQueue += 1
                written.insert(job.id)
            }
            return written
        }
    }

    func rescueExpired(limit: Int) async throws -> (rescued: Int, failed: Int) {
        state.withLock { state in
            state.rescueCalls += 1
            return (state.rescueAnswers.isEmpty ? 0 : min(limit, state.rescueAnswers.removeFirst()), 0)
        }
    }

    func stageDue(limit: Int) async throws -> (promoted: Int, nextDueIn: Duration?) {
        let now = ContinuousClock.now
        return state.withLock { state in
            let due = state.jobs.values.filter { $0.state == .scheduled && $0.runAt <= now }
                .sorted { ($0.runAt, $0.id) < ($1.runAt, $1.id) }.prefix(limit)
            for job in due { state.jobs[job.id]!.state = .available }
            let next = state.jobs.values.filter { $0.state == .scheduled }.map(\.runAt).min()
            return (due.count, next.map { now.duration(to: $0) })
        }
    }

    func archive(finishedMoreThan age: Duration, limit: Int) async throws -> Int { 0 }
    func createHistoryPartitions(daysAhead: Int) async throws -> Int { 0 }
    func prune(olderThan retention: Duration, limit: Int) async throws -> PruneResult { PruneResult() }

    func watchForWork(_ onWork: @escaping @Sendable (String?) -> Void) async throws {
        for await queue in notifications.stream { onWork(queue) }
    }
}

extension InMemoryJobQueue.State {
    fileprivate func holds(_ job: (id: Int64, attempt: Int), _ workerID: String) -> Bool {
        guard let held = jobs[job.id] else { return false }
        return held.state == .running && held.lockedBy == workerID && held.attempt == job.attempt
    }
}

struct UnreachableDatabase: Error {}
