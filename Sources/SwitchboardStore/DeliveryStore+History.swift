import Postgres

/// Messages older than the archive age move to `message_history` (partitioned by the day they
/// were created, migration 0019); whole days are dropped past the message retention.
extension DeliveryStore {
    static let messageColumns = """
        id, sid, job_id, account_id, channel, to_address, from_address, messaging_service_sid, body, segments, status,
        error_code, price, price_unit, origin, created_at, updated_at, status_at, campaign_id, sent_at, delivered_at
        """

    /// One message archiver at a time across all hosts. "SWBTMARC".
    static let archiverLockKey: Int64 = 0x5357_4254_4d41_5243

    /// Creates the missing daily partitions of `message_history` up to `daysAhead` days after
    /// today (UTC); returns how many.
    @discardableResult
    public func createHistoryPartitions(daysAhead: Int = 2) async throws -> Int {
        try await HistoryTables.createPartitions(of: "switchboard.message_history", daysAhead: daysAhead, pool: pool)
    }

    /// Moves up to `limit` messages created more than `age` ago to `message_history`, in one
    /// transaction; returns how many (0 while another host's archiver is at work). A message a
    /// status callback holds at that moment is skipped and moved next time.
    public func archive(createdMoreThan age: Duration, limit: Int = 10_000) async throws -> Int {
        // No ORDER BY: the block range index hands the oldest blocks over first anyway, and
        // sorting every candidate (all of them, the first time after an upgrade) would not.
        try await HistoryTables.moveBatch(
            lockKey: Self.archiverLockKey,
            """
            WITH picked AS (
                SELECT id FROM switchboard.messages
                WHERE created_at < now() - make_interval(secs => \(age.seconds))
                  AND created_at >= switchboard.history_start('switchboard.message_history')
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ), moved AS (
                DELETE FROM switchboard.messages m USING picked WHERE m.id = picked.id RETURNING m.*
            ), archived AS (
                INSERT INTO switchboard.message_history (\(unescaped: Self.messageColumns))
                SELECT \(unescaped: Self.messageColumns) FROM moved
                RETURNING 1
            )
            SELECT count(*)::int FROM archived
            """, pool: pool)
    }

    /// Removes messages older than `retention`: whole days of `message_history`, and up to
    /// `limit` still in the hot table.
    public func prune(olderThan retention: Duration, limit: Int = 10_000) async throws -> PruneResult {
        var pruned = PruneResult()
        (pruned.droppedPartitions, pruned.droppedRows) = try await HistoryTables.dropPartitions(
            of: "switchboard.message_history", olderThan: retention, pool: pool)
        pruned.deleted = try await pool.query(
            """
            DELETE FROM switchboard.messages WHERE id IN (
                SELECT id FROM switchboard.messages
                WHERE created_at < now() - make_interval(secs => \(retention.seconds)) LIMIT \(limit))
            """
        ).affectedRows
        return pruned
    }
}
