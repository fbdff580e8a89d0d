import Foundation
import Postgres
import SwitchboardCore

/// Reads a campaign's report and its recipients' outcomes (see `CampaignReport` for where each
/// figure comes from).
public struct CampaignReportStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Bucket widths the time series picks from: the smallest that keeps it within 48 buckets.
    static let bucketWidths = [60, 300, 900, 3600, 6 * 3600, 86_400, 7 * 86_400]

    static let finalStatuses = "('delivered', 'read', 'undelivered', 'failed')"

    public func report(campaignID id: Int64) async throws -> CampaignReport? {
        // One snapshot for every figure (they add up), and no JIT: compiling these aggregates
        // took longer than running them (1.6 s of 3.3 s at a million messages).
        try await pool.transaction { connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try await connection.query("SET LOCAL jit = off")
            return try await report(campaignID: id, on: connection)
        }
    }

    private func report(campaignID id: Int64, on connection: PostgresConnection) async throws -> CampaignReport? {
        guard
            let campaign = try await connection.query(
                """
                SELECT c.name, a.name, c.state, c.created_at, f.finished_at, coalesce(f.recipients, 0),
                       coalesce(f.opted_out, 0), coalesce(f.recipients - f.fed, 0)
                FROM switchboard.campaigns c JOIN switchboard.accounts a ON a.id = c.account_id
                LEFT JOIN switchboard.campaign_feeds f ON f.campaign_id = c.id
                WHERE c.id = \(id)
                """
            ).first
        else { return nil }
        let since = try campaign.decode(Date.self, at: 3)
        // The campaign's messages: `created_at >= since` prunes history partitions from before it.
        let messages = "switchboard.all_messages WHERE campaign_id = \(id) AND created_at >= "
        let overall = try await connection.query(
            """
            SELECT count(*), count(*) FILTER (WHERE status IN ('delivered', 'read')),
                   count(*) FILTER (WHERE status = 'undelivered'), count(*) FILTER (WHERE status = 'failed'),
                   coalesce(sum(segments), 0)::bigint, min(created_at), max(created_at),
                   count(sent_at),
                   percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at))
                       FILTER (WHERE sent_at IS NOT NULL),
                   count(*) FILTER (WHERE delivered_at IS NOT NULL AND sent_at IS NOT NULL),
                   percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - sent_at))
                       FILTER (WHERE delivered_at IS NOT NULL AND sent_at IS NOT NULL),
                   count(delivered_at),
                   percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at))
                       FILTER (WHERE delivered_at IS NOT NULL)
            FROM \(unescaped: messages) \(since)
            """)[0]
        let accepted = try overall.decode(Int64.self, at: 0)
        let delivered = try overall.decode(Int64.self, at: 1)
        let undelivered = try overall.decode(Int64.self, at: 2)
        let failed = try overall.decode(Int64.self, at: 3)
        func timing(_ span: String, count: Int, percentiles: Int) throws -> CampaignReport.Timing {
            let values = try overall.decode([Double]?.self, at: percentiles) ?? []
            return CampaignReport.Timing(
                span: span, messages: try overall.decode(Int64.self, at: count),
                p50: values.count > 0 ? values[0] : nil, p90: values.count > 1 ? values[1] : nil,
                p99: values.count > 2 ? values[2] : nil)
        }
        let timings = [
            try timing("accepted → sent", count: 7, percentiles: 8),
            try timing("sent → delivered", count: 9, percentiles: 10),
            try timing("accepted → delivered", count: 11, percentiles: 12),
        ]
        let first = try overall.decode(Date?.self, at: 5)
        let last = try overall.decode(Date?.self, at: 6)
        let width =
            Self.bucketWidths.first { width in
                guard let first, let last else { return true }
                return last.timeIntervalSince(first) / Double(width) < 48
            } ?? Self.bucketWidths.last!

        // Everything else about the messages in one pass: by sender, by the number's first
        // digits (folded into calling codes here), by time, by currency (the cost) and by error.
        var breakdowns = Breakdowns()
        for row in try await connection.query(
            """
            SELECT GROUPING(sender, prefix, bucket, unit, error), sender, prefix, bucket, unit, error, count(*),
                   count(*) FILTER (WHERE status IN ('delivered', 'read')),
                   count(*) FILTER (WHERE status IN ('undelivered', 'failed')), coalesce(sum(segments), 0)::bigint,
                   coalesce(sum(-price), 0)::text, count(price),
                   CASE WHEN min(price_unit) <> max(price_unit) THEN 'mixed' ELSE max(price_unit) END
            FROM (
                SELECT coalesce(from_address, messaging_service_sid, '') AS sender,
                       CASE WHEN to_address LIKE '+%' THEN substr(to_address, 2, 3)
                            ELSE coalesce(substring(to_address FROM '\\+([0-9]{1,3})'), '') END AS prefix,
                       date_bin(make_interval(secs => \(width)), created_at, \(Date(timeIntervalSince1970: 0))) AS bucket,
                       coalesce(price_unit, '') AS unit,
                       CASE WHEN status IN ('undelivered', 'failed') THEN error_code END AS error,
                       status, segments, price, price_unit
                FROM \(unescaped: messages) \(since)
            ) m
            GROUP BY GROUPING SETS ((sender), (prefix), (bucket), (unit), (error))
            """)
        {
            try breakdowns.add(row)
        }

        let inbound = try await connection.query(
            """
            SELECT count(*) FILTER (WHERE intent IS NULL), count(DISTINCT from_address) FILTER (WHERE intent IS NULL),
                   count(*) FILTER (WHERE intent = 'opt_out')
            FROM switchboard.inbound_messages WHERE campaign_id = \(id) AND received_at >= \(since)
            """)[0]
        for row in try await connection.query(
            """
            SELECT date_bin(make_interval(secs => \(width)), received_at, \(Date(timeIntervalSince1970: 0))), count(*)
            FROM switchboard.inbound_messages WHERE campaign_id = \(id) AND received_at >= \(since) AND intent IS NULL
            GROUP BY 1
            """)
        {
            breakdowns.add(replies: try row.decode(Int64.self, at: 1), at: try row.decode(Date.self, at: 0))
        }
        let unpriced = try await connection.query(
            """
            SELECT count(*), count(*) FILTER (WHERE c.id IS NULL OR c.gave_up_at IS NOT NULL)
            FROM (SELECT sid FROM \(unescaped: messages) \(since)
                  AND price IS NULL AND status IN \(unescaped: Self.finalStatuses)) m
            LEFT JOIN switchboard.price_checks c ON c.resource = 'message' AND c.sid = m.sid
            """)[0]
        let clicks = try await clickCounts(
            campaignID: id, since: since, width: width, breakdowns: &breakdowns, on: connection)
        let jobs = try await CampaignStore(pool: pool).jobCounts(campaignID: id, on: connection)
        let live = Int64(["scheduled", "available", "running"].reduce(0) { $0 + (jobs[$1] ?? 0) })
        let repliers = try inbound.decode(Int64.self, at: 1)
        return CampaignReport(
            campaign: try campaign.decode(String.self, at: 0), account: try campaign.decode(String.self, at: 1),
            state: try campaign.decode(String.self, at: 2), createdAt: since,
            finishedAt: try campaign.decode(Date?.self, at: 4), recipients: try campaign.decode(Int64.self, at: 5),
            skippedOptedOut: try campaign.decode(Int64.self, at: 6),
            notYetSent: try campaign.decode(Int64.self, at: 7) + live,
            jobsFailed: Int64(jobs["failed"] ?? 0), jobsCancelled: Int64(jobs["cancelled"] ?? 0),
            messages: .init(
                accepted: accepted, delivered: delivered, undelivered: undelivered, failed: failed,
                inFlight: accepted - delivered - undelivered - failed),
            errors: breakdowns.errors.sorted { ($0.messages, $1.code) > ($1.messages, $0.code) },
            optedOutDuring: try inbound.decode(Int64.self, at: 2),
            replies: try inbound.decode(Int64.self, at: 0), repliers: repliers,
            replyRate: delivered > 0 ? Double(repliers) / Double(delivered) : nil,
            clicks: CampaignReport.ClickCounts(
                clicks: clicks.clicks, uniqueRecipients: clicks.unique, bots: clicks.bots,
                clickRate: delivered > 0 ? Double(clicks.unique) / Double(delivered) : nil),
            segments: try overall.decode(Int64.self, at: 4),
            cost: breakdowns.cost.sorted { $0.priceUnit < $1.priceUnit },
            costWaiting: try unpriced.decode(Int64.self, at: 0) - (try unpriced.decode(Int64.self, at: 1)),
            costUnknown: try unpriced.decode(Int64.self, at: 1), timings: timings,
            bySender: breakdowns.bySender.sorted { ($0.accepted, $1.key) > ($1.accepted, $0.key) },
            byCountry: breakdowns.byCallingCode.values.sorted { ($0.accepted, $1.key) > ($1.accepted, $0.key) },
            overTime: CampaignReport.TimeSeries(
                bucketSeconds: width, buckets: breakdowns.buckets.values.sorted { $0.start < $1.start }))
    }

    /// The grouping-sets pass, sorted out by set.
    struct Breakdowns {
        var bySender: [CampaignReport.Breakdown] = []
        var byCallingCode: [String: CampaignReport.Breakdown] = [:]
        var buckets: [Date: CampaignReport.Bucket] = [:]
        var cost: [CampaignReport.CostLine] = []
        var errors: [CampaignReport.ErrorCount] = []

        /// Replies or clicks of a bucket (it may have no messages of its own).
        mutating func add(replies: Int64 = 0, clicks: Int64 = 0, at start: Date) {
            var bucket =
                buckets[start]
                ?? CampaignReport.Bucket(start: start, accepted: 0, delivered: 0, failed: 0, replies: 0, clicks: 0)
            bucket.replies += replies
            bucket.clicks += clicks
            buckets[start] = bucket
        }

        mutating func add(_ row: PostgresRow) throws {
            let counts = CampaignReport.Breakdown(
                key: "", accepted: try row.decode(Int64.self, at: 6), delivered: try row.decode(Int64.self, at: 7),
                failed: try row.decode(Int64.self, at: 8), segments: try row.decode(Int64.self, at: 9),
                cost: try row.decode(String.self, at: 10), priceUnit: try row.decode(String?.self, at: 12))
            // GROUPING sets a bit for each column not grouped by, the first column highest.
            switch try row.decode(Int.self, at: 0) {
            case 0b01111:
                var sender = counts
                sender.key = try row.decode(String.self, at: 1)
                bySender.append(sender)
            case 0b10111:
                let digits = try row.decode(String.self, at: 2)
                let code = CountryCallingCodes.match(digits).map { "+\($0)" } ?? "other"
                var merged =
                    byCallingCode[code]
                    ?? CampaignReport.Breakdown(
                        key: code, accepted: 0, delivered: 0, failed: 0, segments: 0, cost: "0",
                        priceUnit: counts.priceUnit)
                merged.accepted += counts.accepted
                merged.delivered += counts.delivered
                merged.failed += counts.failed
                merged.segments += counts.segments
                merged.cost = CampaignReportStore.add(merged.cost, counts.cost)
                if merged.priceUnit != counts.priceUnit { merged.priceUnit = "mixed" }
                byCallingCode[code] = merged
            case 0b11011:
                let start = try row.decode(Date.self, at: 3)
                buckets[start] = CampaignReport.Bucket(
                    start: start, accepted: counts.accepted, delivered: counts.delivered, failed: counts.failed,
                    replies: buckets[start]?.replies ?? 0, clicks: buckets[start]?.clicks ?? 0)
            case 0b11101:
                let unit = try row.decode(String.self, at: 4)
                let priced = try row.decode(Int64.self, at: 11)
                if !unit.isEmpty, priced > 0 {
                    cost.append(CampaignReport.CostLine(priceUnit: unit, amount: counts.cost, messages: priced))
                }
            default:
                if let code = try row.decode(Int?.self, at: 5) {
                    errors.append(
                        CampaignReport.ErrorCount(
                            code: code,
                            meaning: TwilioErrorClassification.summary(forCode: code)
                                ?? "see twilio.com/docs/errors/\(code)",
                            messages: counts.accepted))
                }
            }
        }
    }

    /// Every recipient's outcome in import order, `batch` at a time through a cursor (one
    /// transaction, no whole result in memory): what was imported, the message sent (the latest,
    /// should there be more), its price and times, replies and opt-outs answering it.
    public func recipients(
        campaignID id: Int64, batch: Int = 10_000, _ body: @Sendable ([RecipientOutcome]) async throws -> Void
    ) async throws {
        guard
            let since = try await pool.query("SELECT created_at FROM switchboard.campaigns WHERE id = \(id)").first?
                .decode(Date.self, at: 0)
        else { return }
        try await pool.transaction { connection in
            try await connection.query("SET LOCAL jit = off")
            try await connection.query(
                """
                DECLARE recipient_outcomes NO SCROLL CURSOR FOR
                SELECT r.recipient, r.line, r.status, m.sid, m.status, m.error_code, m.segments, m.price::text,
                       m.price_unit, m.created_at, m.sent_at, m.delivered_at, coalesce(i.replies, 0)::int,
                       coalesce(i.opted_out, false), coalesce(k.clicks, 0)::int
                FROM switchboard.campaign_recipients r
                LEFT JOIN (
                    SELECT DISTINCT ON (to_address) to_address, sid, status, error_code, segments, price, price_unit,
                           created_at, sent_at, delivered_at
                    FROM switchboard.all_messages WHERE campaign_id = \(id) AND created_at >= \(since)
                    ORDER BY to_address, created_at DESC
                ) m ON m.to_address = r.recipient
                LEFT JOIN (
                    SELECT from_address, count(*) FILTER (WHERE intent IS NULL) AS replies,
                           bool_or(intent = 'opt_out') AS opted_out
                    FROM switchboard.inbound_messages WHERE campaign_id = \(id) AND received_at >= \(since)
                    GROUP BY 1
                ) i ON i.from_address = r.recipient
                LEFT JOIN (
                    SELECT recipient, count(*) AS clicks FROM switchboard.link_clicks
                    WHERE campaign_id = \(id) AND clicked_at >= \(since) AND NOT bot
                    GROUP BY 1
                ) k ON k.recipient = r.seq
                WHERE r.campaign_id = \(id)
                ORDER BY r.seq
                """)
            while true {
                let rows = try await connection.query("FETCH \(unescaped: String(batch)) FROM recipient_outcomes")
                let outcomes = try rows.map { row in
                    RecipientOutcome(
                        recipient: try row.decode(String.self, at: 0), line: try row.decode(Int.self, at: 1),
                        importStatus: try row.decode(String.self, at: 2),
                        messageSID: try row.decode(String?.self, at: 3),
                        messageStatus: try row.decode(String?.self, at: 4), errorCode: try row.decode(Int?.self, at: 5),
                        segments: try row.decode(Int?.self, at: 6), price: try row.decode(String?.self, at: 7),
                        priceUnit: try row.decode(String?.self, at: 8), acceptedAt: try row.decode(Date?.self, at: 9),
                        sentAt: try row.decode(Date?.self, at: 10), deliveredAt: try row.decode(Date?.self, at: 11),
                        replies: try row.decode(Int.self, at: 12), optedOut: try row.decode(Bool.self, at: 13),
                        clicks: try row.decode(Int.self, at: 14))
                }
                if outcomes.isEmpty { break }
                try await body(outcomes)
                if outcomes.count < batch { break }
            }
            try await connection.query("CLOSE recipient_outcomes")
        }
    }

    /// Clicks on the campaign's tracked links: people's (total and distinct recipients, and per
    /// bucket) and, apart, link previews' and crawlers'.
    func clickCounts(
        campaignID id: Int64, since: Date, width: Int, breakdowns: inout Breakdowns, on connection: PostgresConnection
    ) async throws -> (clicks: Int64, unique: Int64, bots: Int64) {
        let totals = try await connection.query(
            """
            SELECT count(*) FILTER (WHERE NOT bot), count(DISTINCT recipient) FILTER (WHERE NOT bot),
                   count(*) FILTER (WHERE bot)
            FROM switchboard.link_clicks WHERE campaign_id = \(id) AND clicked_at >= \(since)
            """)[0]
        for row in try await connection.query(
            """
            SELECT date_bin(make_interval(secs => \(width)), clicked_at, \(Date(timeIntervalSince1970: 0))), count(*)
            FROM switchboard.link_clicks WHERE campaign_id = \(id) AND clicked_at >= \(since) AND NOT bot
            GROUP BY 1
            """)
        {
            breakdowns.add(clicks: try row.decode(Int64.self, at: 1), at: try row.decode(Date.self, at: 0))
        }
        return (
            try totals.decode(Int64.self, at: 0), try totals.decode(Int64.self, at: 1),
            try totals.decode(Int64.self, at: 2)
        )
    }

    /// Decimal strings added without floating point.
    static func add(_ a: String, _ b: String) -> String {
        let sum =
            (Decimal(string: a, locale: Locale(identifier: "en_US_POSIX")) ?? 0)
            + (Decimal(string: b, locale: Locale(identifier: "en_US_POSIX")) ?? 0)
        return NSDecimalNumber(decimal: sum).stringValue
    }
}
