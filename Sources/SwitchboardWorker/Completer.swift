import Logging
import SwitchboardStore
import Synchronization

/// Collects finished attempts and writes them in batches: while one batch is being written, the
/// next accumulates, so under load many completions share one statement and when idle a single
/// completion is written at once.
final class Completer: Sendable {
    private struct Pending {
        var finishes: [JobFinish] = []
        var returns: [(id: Int64, attempt: Int)] = []
        var isEmpty: Bool { finishes.isEmpty && returns.isEmpty }
    }

    private let pending = Mutex(Pending())
    /// Finished attempts written to the database so far.
    let recorded = Atomic<Int>(0)
    private let signal: AsyncStream<Void>
    private let signalContinuation: AsyncStream<Void>.Continuation
    private let queue: any JobQueue
    private let workerID: String
    private let logger: Logger
    /// Called after a batch was written, with the finishes the database applied: the worker may
    /// claim again once its backlog shrank, and a retry is due only from its write on.
    private let onWritten: @Sendable (_ applied: [JobFinish]) -> Void

    init(
        queue: some JobQueue, workerID: String, logger: Logger,
        onWritten: @escaping @Sendable (_ applied: [JobFinish]) -> Void = { _ in }
    ) {
        self.queue = queue
        self.workerID = workerID
        self.logger = logger
        self.onWritten = onWritten
        (signal, signalContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    var backlog: Int { pending.withLock { $0.finishes.count + $0.returns.count } }

    func add(_ finish: JobFinish) {
        pending.withLock { $0.finishes.append(finish) }
        signalContinuation.yield()
    }

    /// Queue a job interrupted by shutdown to go back to the queue.
    func returnToQueue(id: Int64, attempt: Int) {
        pending.withLock { $0.returns.append((id, attempt)) }
        signalContinuation.yield()
    }

    /// No more input after this; `run` writes what is left and returns.
    func finishInput() {
        signalContinuation.finish()
    }

    /// Writes batches until `finishInput` was called and everything is written (or, after
    /// input ended, writing kept failing for `giveUpAfter`).
    func run(giveUpAfter: Duration) async {
        var inputEnded = false
        var iterator = signal.makeAsyncIterator()
        while true {
            if !inputEnded, await iterator.next() == nil { inputEnded = true }
            await flushAll(giveUpAfter: inputEnded ? giveUpAfter : nil)
            if inputEnded { return }
        }
    }

    private func flushAll(giveUpAfter: Duration?) async {
        let start = ContinuousClock.now
        var delay = Duration.milliseconds(100)
        while true {
            let batch = pending.withLock { state -> Pending in
                let taken = state
                state = Pending()
                return taken
            }
            if batch.isEmpty { return }
            do {
                let applied = try await queue.finish(batch.finishes, workerID: workerID)
                recorded.add(applied.count, ordering: .relaxed)
                if applied.count < batch.finishes.count {
                    for finish in batch.finishes where !applied.contains(finish.id) {
                        logger.warning(
                            "stale finish ignored: the job is no longer held by this worker",
                            metadata: ["job.id": "\(finish.id)", "job.attempt": "\(finish.attempt)"])
                    }
                }
                let reason = "worker \(workerID) shut down before the attempt finished"
                _ = try await queue.returnToQueue(batch.returns, workerID: workerID, reason: reason)
                delay = .milliseconds(100)
                onWritten(batch.finishes.filter { applied.contains($0.id) })
            } catch {
                // Put the batch back; each update is guarded, so writing it twice is harmless.
                pending.withLock { state in
                    state.finishes.insert(contentsOf: batch.finishes, at: 0)
                    state.returns.insert(contentsOf: batch.returns, at: 0)
                }
                let expired = giveUpAfter.map { ContinuousClock.now - start > $0 } ?? false
                if expired || Task.isCancelled {
                    logger.error(
                        "could not record finished jobs; their leases will expire and they will be rescued",
                        metadata: ["count": "\(backlog)", "error": "\(error)"])
                    return
                }
                logger.warning("recording finished jobs failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
    }
}
