import Foundation
import Postgres
import SwitchboardCore

/// What one feeding pass of one campaign did.
public struct CampaignFeedResult: Sendable, Equatable {
    /// Jobs made.
    public var fed = 0
    /// The pass made a full batch: more may be due at once.
    public var full = false

    public init(fed: Int = 0, full: Bool = false) {
        self.fed = fed
        self.full = full
    }
}

/// A campaign's progress, from its feed's counters (no count over its recipients).
public struct CampaignProgressCounts: Sendable, Equatable {
    public var recipients: Int
    public var optedOut: Int
    public var fed: Int
    public var pace: Double?
    public var finishedAt: Date?
    /// Recipients not yet turned into jobs.
    public var pending: Int { recipients - fed }
}

extension CampaignStore {
    /// Active campaigns with recipients left to feed, or that may just have finished.
    public func campaignsToFeed() async throws -> [Int64] {
        try await pool.query(
            """
            SELECT f.campaign_id FROM switchboard.campaign_feeds f
            JOIN switchboard.campaigns c ON c.id = f.campaign_id
            WHERE c.state = 'active' AND (f.fed < f.recipients OR (f.finished_at IS NULL AND f.recipients > 0))
            ORDER BY f.campaign_id
            """
        ).map { try $0.decode(Int64.self, at: 0) }
    }

    /// One feeding pass of one campaign, in one transaction: lock its feed row (a feeder on
    /// another host holding it is skipped, so no recipient is ever fed twice), count its live
    /// jobs, make the next jobs `CampaignFeedPlan` allows from the recipients after the cursor,
    /// and move the cursor. A feeder that dies mid-pass changes nothing; the next resumes from the
    /// cursor. Marks the campaign finished when nothing is left to feed and none of its jobs is
    /// live.
    public func feed(campaignID: Int64, lookahead: Duration, batch: Int) async throws -> CampaignFeedResult {
        try await pool.transaction { connection in
            let locked = try await connection.query(
                """
                SELECT f.fed < f.recipients, f.fed_through, c.channel,
                       extract(epoch FROM greatest(f.next_run_at, now()) - now())::float8
                FROM switchboard.campaign_feeds f JOIN switchboard.campaigns c ON c.id = f.campaign_id
                WHERE f.campaign_id = \(campaignID) AND c.state = 'active'
                FOR UPDATE OF f SKIP LOCKED
                """)
            guard let row = locked.first else { return CampaignFeedResult() }
            let left = try row.decode(Bool.self, at: 0)
            let cursor = try row.decode(Int64.self, at: 1)
            let kind = try row.decode(MessageSpec.Channel.self, at: 2).rawValue
            let nextDueIn = Duration.seconds(try row.decode(Double.self, at: 3))
            let live = try await connection.query(
                """
                SELECT count(*)::int FROM switchboard.jobs
                WHERE payload ? 'campaignId' AND (payload ->> 'campaignId')::bigint = \(campaignID)
                  AND state IN ('scheduled', 'available', 'running')
                """
            )[0].decode(Int.self, at: 0)
            guard left else {
                if live == 0 {
                    // `campaign.finished`, once: the first pass that finds it done.
                    try await connection.query(
                        """
                        WITH finished AS (
                            UPDATE switchboard.campaign_feeds SET finished_at = now()
                            WHERE campaign_id = \(campaignID) AND finished_at IS NULL
                            RETURNING campaign_id, recipients, opted_out, fed, finished_at
                        )
                        SELECT switchboard.emit_event('campaign.finished', 'campaign:' || c.id, c.account_id,
                            jsonb_build_object('campaignId', c.id, 'name', c.name, 'channel', c.channel,
                                'recipients', f.recipients, 'optedOut', f.opted_out, 'queued', f.fed,
                                'createdAt', c.created_at, 'finishedAt', f.finished_at))
                        FROM finished f JOIN switchboard.campaigns c ON c.id = f.campaign_id
                        """)
                }
                return CampaignFeedResult()
            }
            let plan = CampaignFeedPlan(
                pace: try await pacing(id: campaignID, on: connection), lookahead: lookahead, batch: batch)
            let count = plan.count(live: live, nextDueIn: nextDueIn)
            guard count > 0 else { return CampaignFeedResult() }
            // Spread at the pace from the next due time (or now); all due within the horizon, so
            // they are written available.
            let fed = try await connection.query(
                """
                WITH taken AS (
                    -- The next rows in the feed index's order, and no more (numbered after the LIMIT,
                    -- so the plan never numbers or sorts the rest of a long campaign).
                    SELECT seq, coalesce(payload, payload_json::jsonb) AS payload FROM switchboard.campaign_recipients
                    WHERE campaign_id = \(campaignID) AND seq > \(cursor) AND status = 'pending'
                    ORDER BY seq LIMIT \(count)
                ), next AS (
                    SELECT seq, payload, row_number() OVER (ORDER BY seq) - 1 AS k FROM taken
                ), start AS (
                    SELECT now() + \(nextDueIn.seconds) * interval '1 second' AS at
                ), jobs AS (
                    INSERT INTO switchboard.jobs (kind, payload, max_attempts, run_at)
                    SELECT \(kind), next.payload, 10,
                           start.at + coalesce(next.k / \(plan.pace)::float8, 0) * interval '1 second'
                    FROM next, start
                    ORDER BY next.seq
                    RETURNING 1
                ), moved AS (
                    UPDATE switchboard.campaign_feeds f
                    SET fed = f.fed + n.fed, fed_through = n.through,
                        next_run_at = start.at + coalesce(n.fed / \(plan.pace)::float8, 0) * interval '1 second'
                    FROM (SELECT count(*) AS fed, max(seq) AS through FROM next) n, start
                    WHERE f.campaign_id = \(campaignID) AND n.fed > 0
                )
                SELECT count(*)::int FROM jobs
                """
            )[0].decode(Int.self, at: 0)
            return CampaignFeedResult(fed: fed, full: fed >= batch)
        }
    }

    /// The campaign's feed counters and pace.
    public func progress(id: Int64) async throws -> CampaignProgressCounts? {
        guard
            let row = try await pool.query(
                """
                SELECT recipients, opted_out, fed, finished_at FROM switchboard.campaign_feeds
                WHERE campaign_id = \(id)
                """
            ).first
        else { return nil }
        return CampaignProgressCounts(
            recipients: try row.decode(Int.self, at: 0), optedOut: try row.decode(Int.self, at: 1),
            fed: try row.decode(Int.self, at: 2), pace: try await pacing(id: id),
            finishedAt: try row.decode(Date?.self, at: 3))
    }
}
