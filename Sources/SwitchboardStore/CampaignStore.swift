import AsyncAlgorithms
import Foundation
import Postgres
import SwitchboardCore

public struct CampaignRecord: Sendable {
    public var id: Int64
    public var accountID: Int64
    public var name: String
    public var channel: MessageSpec.Channel
    public var template: PostgresJSON
    public var state: CampaignState
    /// Where the campaign's tracked links point (`{{link …}}`); nil: the campaign has none.
    public var linkBaseURL: String? = nil
}

extension CampaignState: PostgresCodable {}
extension MessageSpec.Channel: PostgresCodable {}

/// What an import did.
public struct CampaignImportCounts: Sendable, Equatable {
    public var queued = 0
    /// Already in the campaign, or repeated in the file.
    public var duplicates = 0
    public var optedOut = 0

    public init(queued: Int = 0, duplicates: Int = 0, optedOut: Int = 0) {
        self.queued = queued
        self.duplicates = duplicates
        self.optedOut = optedOut
    }
}

/// Campaigns: creation, recipients, pause/resume/cancel, status.
public struct CampaignStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    @discardableResult
    public func create(
        accountID: Int64, name: String, channel: MessageSpec.Channel, template: PostgresJSON, rateCap: Double? = nil,
        linkBaseURL: String? = nil, linksExpireAfter: Duration? = nil
    ) async throws -> Int64 {
        try JobSpec.validateName(name, field: "name")
        if let rateCap, !(rateCap > 0 && rateCap.isFinite) {
            throw InputError(field: "rate_cap", problem: "\(rateCap) must be a positive number of messages per second")
        }
        if let linkBaseURL, !HTTPURL.isValidBase(linkBaseURL) || linkBaseURL.hasSuffix("/") || linkBaseURL.count > 200 {
            throw InputError(
                field: "link_base_url",
                problem: "'\(linkBaseURL.prefix(80))' is not an http(s) base URL without a query or a final slash")
        }
        if let linksExpireAfter, linksExpireAfter <= .zero {
            throw InputError(field: "links_expire_after", problem: "must be positive")
        }
        return try await pool.query(
            """
            WITH created AS (
                INSERT INTO switchboard.campaigns (account_id, name, channel, template, rate_cap, link_base_url,
                    links_expire_after)
                VALUES (\(accountID), \(name), \(channel), \(template)::jsonb, \(rateCap), \(linkBaseURL),
                    make_interval(secs => \(linksExpireAfter?.seconds))) RETURNING id
            ), feed AS (
                INSERT INTO switchboard.campaign_feeds (campaign_id) SELECT id FROM created
            )
            SELECT id FROM created
            """
        )[0].decode(Int64.self, at: 0)
    }

    public func campaign(accountID: Int64, name: String) async throws -> CampaignRecord? {
        try await pool.query(
            """
            SELECT id, account_id, name, channel, template, state, link_base_url FROM switchboard.campaigns
            WHERE account_id = \(accountID) AND name = \(name)
            """
        ).first.map { row in
            CampaignRecord(
                id: try row.decode(Int64.self, at: 0), accountID: try row.decode(Int64.self, at: 1),
                name: try row.decode(String.self, at: 2), channel: try row.decode(MessageSpec.Channel.self, at: 3),
                template: try row.decode(PostgresJSON.self, at: 4), state: try row.decode(CampaignState.self, at: 5),
                linkBaseURL: try row.decode(String?.self, at: 6))
        }
    }

    /// The campaign's state, or nil if it is gone.
    public func state(id: Int64) async throws -> CampaignState? {
        try await pool.query("SELECT state FROM switchboard.campaigns WHERE id = \(id)").first?.decode(
            CampaignState.self, at: 0)
    }

    /// State and rate cap of many campaigns at once (state nil for a campaign that no longer exists).
    public func states(ids: [Int64]) async throws -> [(state: CampaignState?, rateCap: Double?)] {
        let rows = try await pool.query(
            """
            SELECT c.state, c.rate_cap FROM unnest(\(ids)::bigint[]) WITH ORDINALITY AS i(id, n)
            LEFT JOIN switchboard.campaigns c ON c.id = i.id ORDER BY i.n
            """)
        return try rows.map { (try $0.decode(CampaignState?.self, at: 0), try $0.decode(Double?.self, at: 1)) }
    }

    /// Messages per second the campaign can send: its cap, else the total rate of its pool's
    /// senders (or its From sender's rate); nil when unlimited.
    public func pacing(_ campaign: CampaignRecord) async throws -> Double? {
        try await pacing(id: campaign.id)
    }

    func pacing(id: Int64, on connection: PostgresConnection? = nil) async throws -> Double? {
        try await pool.query(
            """
            SELECT coalesce(c.rate_cap,
                (SELECT sum(s.rate) FROM switchboard.pools p JOIN switchboard.pool_senders ps ON ps.pool_id = p.id
                   JOIN switchboard.senders s ON s.id = ps.sender_id
                 WHERE p.account_id = c.account_id AND p.name = c.template ->> 'pool' AND s.enabled),
                (SELECT s.rate FROM switchboard.senders s WHERE s.account_id = c.account_id AND s.address = c.template ->> 'from'))
            FROM switchboard.campaigns c WHERE c.id = \(id)
            """, on: connection
        ).first?.decode(Double?.self, at: 0)
    }

    /// Books the campaign's next send slot under its rate cap, at most `horizon` ahead.
    public func reserveSlot(id: Int64, horizon: Duration) async throws -> ReservationResult {
        try await RowRateLimit.campaignCap.reserve(pool: pool, id: id, horizon: horizon)
    }

    /// Pauses or resumes. Paused jobs are held by the worker's check before each send.
    public func setState(id: Int64, _ state: CampaignState) async throws {
        try await pool.query("UPDATE switchboard.campaigns SET state = \(state), updated_at = now() WHERE id = \(id)")
    }

    /// Cancels the campaign and every job of it that has not started; returns how many jobs.
    @discardableResult
    public func cancel(id: Int64) async throws -> Int {
        try await pool.transaction { connection in
            try await connection.query(
                "UPDATE switchboard.campaigns SET state = 'cancelled', updated_at = now() WHERE id = \(id)")
            return try await connection.query(
                """
                UPDATE switchboard.jobs SET state = 'cancelled', finished_at = now(),
                    errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempt, 'at', now(),
                        'error', 'campaign cancelled', 'kind', 'cancelled'))
                WHERE payload ? 'campaignId' AND (payload ->> 'campaignId')::bigint = \(id)
                  AND state IN ('scheduled', 'available')
                """
            ).affectedRows
        }
    }

    /// First key of the advisory lock imports into one campaign take turns on ("SWBI").
    static let importLockClass: Int32 = 1_398_227_529

    /// COPY bytes of an import inserted at a time: while the database inserts one batch, the
    /// next is rendered (a batch of 16 MiB is some 50,000 recipients; two or three are in memory).
    public static let importBatchBytes = 16 << 20

    /// Adds recipients from `COPY` text rows (`line \t recipient \t payload`), in one transaction:
    /// each recipient once per campaign (the first line wins), suppressed ones recorded as
    /// `opted_out`, the rest `pending` with their job payload. No job is written: the feeder
    /// (`feed`) makes them at the campaign's pace, so an import of ten million rows adds ten
    /// million insert-once rows here and nothing to the queue.
    ///
    /// The rows are read ahead in batches: while one batch is copied and inserted, the source
    /// renders the next (the render and the insert each take most of a core; one after the other,
    /// half of a two-core machine sat idle). A failure anywhere rolls the whole import back.
    public func importRecipients<Source: AsyncSequence & Sendable>(
        campaignID: Int64, accountID: Int64, rows: Source, batchBytes: Int = CampaignStore.importBatchBytes
    ) async throws -> CampaignImportCounts where Source.Element == [UInt8] {
        try await importRecipients(campaignID: campaignID, accountID: accountID, batchBytes: batchBytes) { _ in rows }
    }

    /// As above, the rows made once the import knows its number: each recipient's `seq` is
    /// `importBase + line` (tracked links carry it).
    public func importRecipients<Source: AsyncSequence & Sendable>(
        campaignID: Int64, accountID: Int64, batchBytes: Int = CampaignStore.importBatchBytes,
        makeRows: @Sendable (_ importBase: Int64) -> Source
    ) async throws -> CampaignImportCounts where Source.Element == [UInt8] {
        try await pool.withConnection { connection in
            try await connection.transaction { connection in
                // The campaign cannot be deleted meanwhile (its recipients have no per-row
                // foreign key: see migration 0017).
                let exists = try await connection.query(
                    "SELECT 1 FROM switchboard.campaigns WHERE id = \(campaignID) FOR KEY SHARE")
                guard !exists.isEmpty else {
                    throw InputError(field: "campaign", problem: "campaign \(campaignID) does not exist")
                }
                // Imports into one campaign take turns (migration 0021): each numbers its
                // recipients above the last one's. Two statements: the lock's, then one whose
                // snapshot sees what the import waited for committed.
                try await connection.query(
                    """
                    SELECT pg_advisory_xact_lock(\(Self.importLockClass)::integer, \(Int32(truncatingIfNeeded: campaignID))::integer)
                    """)
                let last = try await connection.query(
                    "SELECT max(seq) >> 32 FROM switchboard.campaign_recipients WHERE campaign_id = \(campaignID)")
                let previousImport = try last[0].decode(Int64?.self, at: 0)
                let base = ((previousImport ?? 0) + 1) << 32
                let rows = makeRows(base)
                // A batch's sort stays in memory.
                try await connection.query("SET LOCAL work_mem = '64MB'")
                try await connection.query(
                    "CREATE TEMP TABLE campaign_staging (line integer, recipient text, payload json) ON COMMIT DROP")
                let batches = AsyncThrowingChannel<[[UInt8]], any Error>()
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await Self.readAhead(rows, into: batches, batchBytes: batchBytes) }
                    var total = (staged: 0, queued: 0, optedOut: 0, added: 0)
                    for try await batch in batches {
                        total.staged += try await connection.copyFrom("COPY campaign_staging FROM STDIN", chunks: batch)
                        // The campaign's first batch ever cannot conflict (no recipients, and
                        // imports take turns): it skips ON CONFLICT's extra index probe per row.
                        let first = previousImport == nil && total.added == 0
                        let counts = try await insertStaged(
                            connection, campaignID: campaignID, accountID: accountID, base: base, mayConflict: !first)
                        try await connection.query("TRUNCATE campaign_staging")
                        total.queued += counts.queued
                        total.optedOut += counts.optedOut
                        total.added += counts.queued + counts.optedOut
                    }
                    try await connection.query(
                        """
                        UPDATE switchboard.campaign_feeds
                        SET recipients = recipients + \(total.queued), opted_out = opted_out + \(total.optedOut),
                            finished_at = CASE WHEN \(total.queued) > 0 THEN NULL ELSE finished_at END
                        WHERE campaign_id = \(campaignID)
                        """)
                    return CampaignImportCounts(
                        queued: total.queued, duplicates: total.staged - total.added, optedOut: total.optedOut)
                }
            }
        }
    }

    /// Groups the source's chunks into batches of about `batchBytes` and hands them over one at a
    /// time (the channel waits for the importer to take each), so at most the batch being
    /// inserted, the one handed over and the one being read are in memory.
    private static func readAhead<Source: AsyncSequence & Sendable>(
        _ rows: Source, into batches: AsyncThrowingChannel<[[UInt8]], any Error>, batchBytes: Int
    ) async where Source.Element == [UInt8] {
        do {
            var batch: [[UInt8]] = []
            var size = 0
            for try await chunk in rows {
                // The importer failed: stop reading instead of rendering the rest of the file.
                try Task.checkCancellation()
                batch.append(chunk)
                size += chunk.count
                if size >= batchBytes {
                    await batches.send(batch)
                    (batch, size) = ([], 0)
                }
            }
            if !batch.isEmpty { await batches.send(batch) }
            batches.finish()
        } catch {
            batches.fail(error)
        }
    }

    /// Inserts the staged rows: the first line of a recipient repeated in the file is the one
    /// kept; rows go in in recipient order (the primary key's), each numbered by its line, so
    /// the feeder still sends in file order. The payload stays the JSON text the import rendered
    /// (migration 0022): checked as JSON when copied, parsed into jsonb by the feeder.
    private func insertStaged(
        _ connection: PostgresConnection, campaignID: Int64, accountID: Int64, base: Int64, mayConflict: Bool
    ) async throws -> (queued: Int, optedOut: Int) {
        let onConflict = mayConflict ? "ON CONFLICT (campaign_id, recipient) DO NOTHING" : ""
        let result = try await connection.query(
            """
            WITH added AS (
                INSERT INTO switchboard.campaign_recipients (campaign_id, recipient, line, status, payload_json, seq)
                SELECT DISTINCT ON (f.recipient) \(campaignID), f.recipient, f.line, s.status,
                       CASE WHEN s.status = 'pending' THEN f.payload END, \(base)::bigint + f.line
                FROM campaign_staging f, LATERAL (
                    SELECT CASE WHEN EXISTS (SELECT 1 FROM switchboard.suppressions x
                                             WHERE x.account_id = \(accountID) AND x.address = f.recipient
                                               AND x.scope = 'account')
                                THEN 'opted_out' ELSE 'pending' END AS status) s
                ORDER BY f.recipient, f.line
                \(unescaped: onConflict)
                RETURNING status
            )
            SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'opted_out') FROM added
            """)
        return (try result[0].decode(Int.self, at: 0), try result[0].decode(Int.self, at: 1))
    }

    /// Jobs of the campaign per state, and its messages per delivery status. The jobs still in
    /// the hot table are counted (at most the look-ahead and the last minute's finished ones);
    /// those moved to history come from the campaign's counters. Messages are read by the
    /// campaign's index range (migration 0027).
    public func status(id: Int64) async throws -> (jobs: [String: Int], deliveries: [String: Int], optedOut: Int) {
        let jobs = try await jobCounts(campaignID: id)
        var deliveries: [String: Int] = [:]
        for row in try await pool.query(
            """
            SELECT status, count(*) FROM switchboard.all_messages
            WHERE campaign_id = \(id)
              AND created_at >= (SELECT created_at FROM switchboard.campaigns WHERE id = \(id))
            GROUP BY 1
            """)
        {
            deliveries[try row.decode(String.self, at: 0)] = try row.decode(Int.self, at: 1)
        }
        let optedOut = try await pool.query(
            "SELECT count(*) FROM switchboard.campaign_recipients WHERE campaign_id = \(id) AND status = 'opted_out'"
        )[0].decode(Int.self, at: 0)
        return (jobs, deliveries, optedOut)
    }

    /// The campaign's jobs per state: those still in the hot table, plus the finished ones the
    /// archiver counted into the campaign's feed row. On `connection` when given (a report's
    /// snapshot), else on any.
    public func jobCounts(campaignID id: Int64, on connection: PostgresConnection? = nil) async throws -> [String: Int]
    {
        var jobs: [String: Int] = [:]
        for row in try await pool.query(
            """
            SELECT state::text, count(*) FROM switchboard.jobs
            WHERE payload ? 'campaignId' AND (payload ->> 'campaignId')::bigint = \(id) GROUP BY 1
            UNION ALL
            SELECT state, jobs FROM switchboard.campaign_feeds,
                LATERAL (VALUES ('completed', completed), ('failed', failed), ('cancelled', cancelled)) c (state, jobs)
            WHERE campaign_id = \(id) AND jobs > 0
            """, on: connection)
        {
            jobs[try row.decode(String.self, at: 0), default: 0] += try row.decode(Int.self, at: 1)
        }
        return jobs
    }
}
