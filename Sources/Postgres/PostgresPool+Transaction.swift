extension PostgresPool {
    public enum IsolationLevel: String, Sendable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
        case serializable = "SERIALIZABLE"
    }

    /// Runs `body` inside BEGIN … COMMIT on one connection. A serialization failure or deadlock
    /// (SQLSTATE 40001, 40P01) rolls back and runs the whole body again, up to `maxAttempts` times,
    /// so `body` must be safe to repeat (database work only). Any other error rolls back and is rethrown.
    public nonisolated func transaction<T: Sendable>(
        isolation: IsolationLevel = .readCommitted, maxAttempts: Int = 5,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection { connection in
            try await connection.transaction(isolation: isolation, maxAttempts: maxAttempts, body)
        }
    }
}

extension PostgresConnection {
    /// See `PostgresPool.transaction`.
    public nonisolated func transaction<T: Sendable>(
        isolation: PostgresPool.IsolationLevel = .readCommitted, maxAttempts: Int = 5,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            try await query(PostgresQuery(unsafeSQL: "BEGIN ISOLATION LEVEL \(isolation.rawValue)"))
            do {
                let value = try await body(self)
                try await query("COMMIT")
                return value
            } catch let error as PostgresError where error.isTransactionRetryable && attempt < maxAttempts {
                _ = try? await query("ROLLBACK")
                attempt += 1
                // Short randomised pause so the conflicting transactions do not collide again.
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 * attempt))))
            } catch {
                if error is CancellationError || (error as? PostgresError)?.kind != .connectionLost {
                    _ = try? await query("ROLLBACK")
                }
                throw error
            }
        }
    }
}
