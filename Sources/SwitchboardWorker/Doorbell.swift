import Synchronization

/// Wakes one waiting task: the worker's loop sleeps on it until the next due time, and anything
/// that may give it something to do (a job ending, a claim answering, a notification, shutdown)
/// rings. A ring with nobody waiting is kept, so a ring between deciding to wait and waiting is
/// not lost.
///
/// Due times are kept by one alarm, armed again only for an earlier time: a busy worker waits a
/// few hundred times a second, mostly for the same poll time, and a timer per wait (set, then
/// cancelled) cost it more than its claims. An alarm that fires before the time a later wait asked
/// for only wakes the loop early, and the loop waits again.
final class Doorbell: Sendable {
    private enum State {
        case idle
        case rung
        case waiting(CheckedContinuation<Void, Never>)
    }

    private struct Alarm {
        var due: ContinuousClock.Instant
        var task: Task<Void, Never>
    }

    private let state = Mutex(State.idle)
    private let alarm = Mutex<Alarm?>(nil)

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
        if let deadline { armAlarm(for: deadline) }
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
    }

    /// Stops the alarm (the loop is done).
    func close() {
        alarm.withLock { alarm in
            alarm?.task.cancel()
            alarm = nil
        }
    }

    private func armAlarm(for due: ContinuousClock.Instant) {
        alarm.withLock { alarm in
            if let armed = alarm, armed.due <= due { return }
            alarm?.task.cancel()
            let task = Task { [self] in
                // Cancelled: a sooner alarm replaced this one, or the loop is done.
                guard (try? await Task.sleep(until: due)) != nil else { return }
                self.alarm.withLock { if $0?.due == due { $0 = nil } }
                ring()
            }
            alarm = Alarm(due: due, task: task)
        }
    }
}
