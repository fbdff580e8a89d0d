import Postgres

/// The day-partitioned history tables (`job_history`, `message_history`, migrations 0018 and
/// 0019): their partitions made ahead and dropped whole past a retention.
enum HistoryTables {
    /// Creates `parent`'s missing daily partitions up to `daysAhead` days after today (UTC);
    /// returns how many. Waits at most five seconds for its brief lock on `parent` (a long report
    /// reading it, say) rather than queue every reader behind it.
    static func createPartitions(of parent: String, daysAhead: Int, pool: PostgresPool) async throws -> Int {
        try await pool.transaction { connection in
            try await connection.query("SET LOCAL lock_timeout = '5s'")
            return try await connection.query(
                "SELECT switchboard.create_history_partitions(\(parent)::regclass, \(daysAhead))"
            )[0].decode(Int.self, at: 0)
        }
    }

    /// Runs one archiver batch (`statement`, which answers how many rows it moved) in a
    /// transaction holding the advisory lock `lockKey`, or moves nothing (0) while another
    /// host's archiver holds it: the counters a batch adds to are then never locked in two
    /// orders at once, and two archivers never wait on each other's rows.
    static func moveBatch(lockKey: Int64, _ statement: PostgresQuery, pool: PostgresPool) async throws -> Int {
        try await pool.transaction { connection in
            let mine = try await connection.query("SELECT pg_try_advisory_xact_lock(\(lockKey))")
            guard try mine[0].decode(Bool.self, at: 0) else { return 0 }
            return try await connection.query(statement)[0].decode(Int.self, at: 0)
        }
    }

    /// Drops `parent`'s partitions that ended more than `retention` ago, each waiting at most five
    /// seconds for its lock (else it is left for the next pass). Returns their names and
    /// PostgreSQL's estimate of the rows they held.
    static func dropPartitions(
        of parent: String, olderThan retention: Duration, pool: PostgresPool
    ) async throws -> (names: [String], rows: Int) {
        let expired = try await pool.query(
            """
            SELECT partition_name, estimated_rows FROM switchboard.history_partitions(\(parent)::regclass)
            WHERE ends <= now() - make_interval(secs => \(retention.seconds))
            ORDER BY 1
            """)
        var dropped: (names: [String], rows: Int) = ([], 0)
        for partition in expired {
            let name = try partition.decode(String.self, at: 0)
            try await pool.transaction { connection in
                try await connection.query("SET LOCAL lock_timeout = '5s'")
                // The name came from the catalog as one of `parent`'s partitions.
                try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS switchboard.\"\(name)\""))
            }
            dropped.names.append(name)
            dropped.rows += try partition.decode(Int.self, at: 1)
        }
        return dropped
    }
}
