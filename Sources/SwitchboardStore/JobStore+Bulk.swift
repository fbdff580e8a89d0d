import Foundation
import Postgres
import SwitchboardCore

extension JobStore {
    /// A bulk enqueue failed validation; nothing was written.
    public struct BulkValidationError: Error, CustomStringConvertible {
        /// 0-based position of the first invalid job in the input.
        public var index: Int
        public var error: InputError
        public var description: String { "job \(index + 1): \(error)" }
    }

    /// Enqueues many jobs with `COPY … FROM STDIN` in one transaction: all or nothing.
    ///
    /// Every job is validated first. Jobs whose idempotency key a live job already holds are
    /// skipped (the answer counts only inserted jobs). Workers get one notification per queue.
    @discardableResult
    public func enqueueMany(_ jobs: [NewJob]) async throws -> Int {
        for (index, job) in jobs.enumerated() {
            do { try job.validate() } catch { throw BulkValidationError(index: index, error: error) }
        }
        guard !jobs.isEmpty else { return 0 }
        let hasKeys = jobs.contains { $0.idempotencyKey != nil }
        let chunks = Self.copyChunks(jobs)
        return try await pool.transaction { connection in
            guard hasKeys else {
                return try await connection.copyFrom(Self.copyStatement(into: "switchboard.jobs"), chunks: chunks)
            }
            // Keys may collide with live jobs or with each other: stage, then insert what is new.
            try await connection.query(
                """
                CREATE TEMP TABLE switchboard_enqueue_staging (
                    kind text, queue text, priority smallint, state switchboard.job_state, run_at timestamptz,
                    max_attempts integer, payload jsonb, idempotency_key text
                ) ON COMMIT DROP
                """)
            try await connection.copyFrom(Self.copyStatement(into: "switchboard_enqueue_staging"), chunks: chunks)
            return try await connection.query(
                """
                INSERT INTO switchboard.jobs (kind, queue, priority, state, run_at, max_attempts, payload, idempotency_key)
                SELECT DISTINCT ON (coalesce(idempotency_key, ctid::text))
                       kind, queue, priority, state, run_at, max_attempts, payload, idempotency_key
                FROM switchboard_enqueue_staging
                ORDER BY coalesce(idempotency_key, ctid::text), ctid
                ON CONFLICT (idempotency_key) WHERE state IN ('scheduled', 'available', 'running') DO NOTHING
                """
            ).affectedRows
        }
    }

    static func copyStatement(into table: String) -> String {
        "COPY \(table) (kind, queue, priority, state, run_at, max_attempts, payload, idempotency_key) FROM STDIN"
    }

    /// Encodes jobs as COPY text-format rows in chunks of about 256 KiB.
    static func copyChunks(_ jobs: [NewJob]) -> [[UInt8]] {
        var chunks: [[UInt8]] = []
        var current: [UInt8] = []
        current.reserveCapacity(1 << 18)
        let now = Date()
        let nowText = now.postgresText ?? "now"
        // Written here, so a job dated later costs no second write (the insert trigger's). By
        // this host's clock: off by a little, a job lands on the other side of the horizon,
        // which only changes how it is found (the stager, or the claim's run_at filter).
        let horizon = now.addingTimeInterval(JobState.schedulingHorizon.seconds)
        for job in jobs {
            appendField(job.kind, to: &current)
            current.append(9)
            appendField(job.queue, to: &current)
            current.append(9)
            current.append(contentsOf: String(job.priority).utf8)
            current.append(9)
            let state: JobState = (job.runAt ?? now) > horizon ? .scheduled : .available
            current.append(contentsOf: state.rawValue.utf8)
            current.append(9)
            appendField(job.runAt?.postgresText ?? nowText, to: &current)
            current.append(9)
            current.append(contentsOf: String(job.maxAttempts).utf8)
            current.append(9)
            appendField(job.payload.text, to: &current)
            current.append(9)
            if let key = job.idempotencyKey {
                appendField(key, to: &current)
            } else {
                current.append(contentsOf: "\\N".utf8)
            }
            current.append(10)
            if current.count >= 1 << 18 {
                chunks.append(current)
                current = []
                current.reserveCapacity(1 << 18)
            }
        }
        if !current.isEmpty { chunks.append(current) }
        return chunks
    }

    /// COPY text format: backslash, tab, newline and carriage return are escaped.
    public static func appendField(_ text: String, to buffer: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.append(contentsOf: [92, 92])
            case 9: buffer.append(contentsOf: [92, UInt8(ascii: "t")])
            case 10: buffer.append(contentsOf: [92, UInt8(ascii: "n")])
            case 13: buffer.append(contentsOf: [92, UInt8(ascii: "r")])
            default: buffer.append(byte)
            }
        }
    }
}
