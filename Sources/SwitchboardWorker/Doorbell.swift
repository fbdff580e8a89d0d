import Synchronization

/// Wakes one waiting task: the worker's loop sleeps on it until the next due time, and anything
/// that may give it something to do (a job ending, a notification, shutdown) rings. A ring with
/// nobody waiting is kept, so a ring between deciding to wait and waiting is not lost.
final class Doorbell: Sendable {
    private enum State {
        case idle
        case rung
        case waiting(CheckedContinuation<Void, Never>)
    }

    private let state = Mutex(State.idle)

    func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if case .waiting(let continuation) = state {
                state = .idle
                return continuation
            }
            state = .rung
            return nil
        }
        waiter?.resume()
    }

    /// Returns after a ring (also one before the call), at `deadline` when given, or, when
    /// `cancellationWakes`, once the task is cancelled. Only one task may wait at a time.
    func wait(until deadline: ContinuousClock.Instant?, cancellationWakes: Bool) async {
        await withTaskGroup(of: Void.self) { timer in
            if let deadline {
                // A cancelled sleep (the wait ended first) must not leave a stray ring behind.
                timer.addTask { if (try? await Task.sleep(until: deadline)) != nil { self.ring() } }
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state -> Bool in
                        if case .rung = state {
                            state = .idle
                            return true
                        }
                        state = .waiting(continuation)
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                if cancellationWakes { ring() }
            }
            timer.cancelAll()
        }
    }
}
