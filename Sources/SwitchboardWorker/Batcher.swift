/// Coalesces concurrent single-item calls into batches: while one batch is being processed, new
/// items wait and go together in the next. Each caller gets its own item's answer.
///
/// The sending handlers use it so that 100 concurrent sends make a handful of suppression
/// lookups and message inserts instead of 200 round trips and 100 commits; event deliveries
/// record their attempts through one.
public actor Batcher<Input: Sendable, Output: Sendable> {
    public typealias Process = @Sendable ([Input]) async throws -> [Output]

    private let process: Process
    private let maxBatch: Int
    private var pending: [(input: Input, continuation: CheckedContinuation<Output, any Error>)] = []
    private var flushing = false

    public init(maxBatch: Int = 500, process: @escaping Process) {
        self.maxBatch = maxBatch
        self.process = process
    }

    public func submit(_ input: Input) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            pending.append((input, continuation))
            if !flushing {
                flushing = true
                // Awaited through the continuations: every caller waits for its batch.
                Task { await self.flush() }
            }
        }
    }

    private func flush() async {
        while !pending.isEmpty {
            let batch = Array(pending.prefix(maxBatch))
            pending.removeFirst(batch.count)
            do {
                let outputs = try await process(batch.map(\.input))
                guard outputs.count == batch.count else {
                    throw BatchMismatch(expected: batch.count, got: outputs.count)
                }
                for (entry, output) in zip(batch, outputs) { entry.continuation.resume(returning: output) }
            } catch {
                for entry in batch { entry.continuation.resume(throwing: error) }
            }
        }
        flushing = false
    }

    struct BatchMismatch: Error, CustomStringConvertible {
        var expected: Int
        var got: Int
        var description: String { "batch produced \(got) answers for \(expected) items" }
    }
}
