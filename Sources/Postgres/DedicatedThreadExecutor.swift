import Foundation
import Synchronization

/// A serial executor that runs its jobs on one OS thread of its own.
///
/// Each connection actor runs on one of these, so libpq's blocking calls never occupy a thread of
/// Swift's cooperative pool (on a 2-core machine one blocked pool thread halves the process).
public final class DedicatedThreadExecutor: SerialExecutor, Sendable {
    private struct State {
        var jobs: [UnownedJob] = []
        var head = 0
        var stopping = false
    }

    private let state = Mutex(State())
    private let signal = DispatchSemaphore(value: 0)

    public init(name: String) {
        let thread = Thread { [self] in runLoop() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    private func runLoop() {
        while true {
            signal.wait()
            let next: UnownedJob? = state.withLock { state in
                guard state.head < state.jobs.count else { return nil }
                let job = state.jobs[state.head]
                state.head += 1
                if state.head == state.jobs.count {
                    state.jobs.removeAll(keepingCapacity: true)
                    state.head = 0
                }
                return job
            }
            guard let next else {
                // A signal without a job is the shutdown request.
                if state.withLock({ $0.stopping }) { return }
                continue
            }
            next.runSynchronously(on: asUnownedSerialExecutor())
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        state.withLock { $0.jobs.append(unowned) }
        signal.signal()
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Lets the thread exit once the jobs already queued have run.
    public func shutdown() {
        state.withLock { $0.stopping = true }
        signal.signal()
    }
}
