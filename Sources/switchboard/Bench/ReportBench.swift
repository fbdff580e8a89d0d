import ArgumentParser
import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore

/// `bench report`: a campaign report and the export of every recipient's outcome on a campaign of
/// a million recipients, among as many messages of other campaigns, beside a sequential scan of
/// the messages table measured in the same run.
struct ReportBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "A campaign report and its recipients' export at a million recipients, beside a full scan.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Recipients (and messages) of the reported campaign.") var recipients = 1_000_000
    @Option(help: "Messages of other campaigns in the same table.") var others = 1_000_000

    func validate() throws {
        guard recipients >= 1, others >= 0 else { throw ValidationError("--recipients must be at least 1") }
    }

    func run() async throws {
        try await options.withScratchDatabase(poolSize: 4) { pool, description in
            try await measure(pool: pool, server: description)
        }
    }

    private func measure(pool: PostgresPool, server: String) async throws {
        say("switchboard bench report — \(server)")
        say(
            "machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; a campaign of \(recipients) recipients among \(others) other messages"
        )
        let started = ContinuousClock.now
        let campaignID = try await populate(pool)
        say("populated in \(formatted((ContinuousClock.now - started).seconds, decimals: 1)) s")
        let store = CampaignReportStore(pool: pool)
        var reports: [Double] = []
        var exports: [Double] = []
        var scans: [Double] = []
        for run in 1...options.runs {
            let scanStart = ContinuousClock.now
            _ = try await pool.query("SELECT count(*), sum(segments) FROM switchboard.messages")
            let scan = (ContinuousClock.now - scanStart).seconds
            let reportStart = ContinuousClock.now
            guard let report = try await store.report(campaignID: campaignID),
                report.messages.accepted == Int64(recipients)
            else { throw CommandFailure("the report did not count \(recipients) messages") }
            let reportSeconds = (ContinuousClock.now - reportStart).seconds
            let exportStart = ContinuousClock.now
            let rows = RowCount()
            try await store.recipients(campaignID: campaignID) { batch in
                // Formatted as the CLI writes them, not printed.
                var bytes = 0
                for outcome in batch { bytes += CSVWriter.record(outcome.csvFields).utf8.count }
                rows.add(batch.count, bytes: bytes)
            }
            let exportSeconds = (ContinuousClock.now - exportStart).seconds
            guard rows.rows == recipients else {
                throw CommandFailure("the export wrote \(rows.rows) of \(recipients) rows")
            }
            reports.append(reportSeconds)
            exports.append(exportSeconds)
            scans.append(scan)
            say(
                "run \(run): report \(formatted(reportSeconds, decimals: 2)) s; export \(formatted(exportSeconds, decimals: 1)) s (\(formatted(Double(recipients) / exportSeconds)) rows/s, \(rows.bytes / 1_000_000) MB of CSV); full scan of messages \(formatted(scan, decimals: 2)) s"
            )
        }
        let report = Statistics.median(reports)
        let export = Statistics.median(exports)
        let scan = Statistics.median(scans)
        say("")
        say("result (median of \(options.runs) runs):")
        say("  report: \(formatted(report, decimals: 2)) s for \(recipients) recipients")
        say(
            "  recipients' export: \(formatted(export, decimals: 1)) s (\(formatted(Double(recipients) / export)) rows/s)"
        )
        say(
            "  reference: a sequential scan of all \(recipients + others) messages \(formatted(scan, decimals: 2)) s (report \(formatted(report / scan, decimals: 1))× a scan)"
        )
        say(
            "method: messages, recipients, replies and opt-outs generated in SQL (statuses, errors, prices, times as a campaign leaves"
        )
        say(
            "them), VACUUM ANALYZE; CampaignReportStore.report timed end to end (all its queries); the export streamed through its cursor"
        )
        say(
            "in batches of 10,000 and formatted as CSV in memory; the scan is count(*) and sum(segments) over messages."
        )
        if options.json {
            say(
                "{\"report_s\": \(formatted(report, decimals: 3)), \"export_s\": \(formatted(export, decimals: 2)), \"scan_s\": \(formatted(scan, decimals: 3)), \"recipients\": \(recipients), \"others\": \(others), \"runs\": \(options.runs)}"
            )
        }
    }

    final class RowCount: @unchecked Sendable {
        // Called by one cursor loop at a time.
        var rows = 0
        var bytes = 0
        func add(_ count: Int, bytes more: Int) {
            rows += count
            bytes += more
        }
    }

    /// The account, the reported campaign (id returned) and another, their recipients and messages.
    private func populate(_ pool: PostgresPool) async throws -> Int64 {
        let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
        let account = try await AccountStore(pool: pool, vault: vault).upsert(
            name: "bench", accountSID: "AC" + String(repeating: "7e90", count: 8),
            secret: "bench-auth-token-not-a-secret")
        let campaigns = CampaignStore(pool: pool)
        let reported = try await campaigns.create(
            accountID: account, name: "reported", channel: .sms, template: PostgresJSON(text: "{}"))
        let other = try await campaigns.create(
            accountID: account, name: "other", channel: .sms, template: PostgresJSON(text: "{}"))
        // Twenty senders, numbers in three countries; 96% delivered, 3% undelivered (30003, 30005),
        // 1% failed (30007); 1% reply, 0.2% opt out; sent 1–4 s after acceptance, delivered 2–10 s after.
        for (campaign, count, offset) in [(reported, recipients, 0), (other, others, recipients)] where count > 0 {
            try await pool.query(
                """
                INSERT INTO switchboard.messages (sid, account_id, channel, to_address, from_address, body, segments,
                    status, error_code, price, price_unit, campaign_id, created_at, sent_at, delivered_at)
                SELECT 'SM' || md5(n::text), \(account), 'sms', to_address, '+1555765' || lpad((n % 20)::text, 4, '0'),
                       'Spring sale', 1 + (n % 7 = 0)::int, status, error_code, -0.0079 * (1 + (n % 7 = 0)::int), 'USD',
                       \(campaign), at, at + (1 + n % 4) * interval '1 second',
                       CASE WHEN status = 'delivered' THEN at + (3 + n % 9) * interval '1 second' END
                FROM (
                    SELECT n, now() - interval '6 hours' + n * interval '10 milliseconds' AS at,
                           CASE n % 10 WHEN 0 THEN '+44770' || lpad(n::text, 7, '0')
                                       WHEN 1 THEN '+33612' || lpad(n::text, 6, '0')
                                       ELSE '+1212' || lpad(n::text, 7, '0') END AS to_address,
                           CASE WHEN n % 100 < 96 THEN 'delivered' WHEN n % 100 < 99 THEN 'undelivered' ELSE 'failed' END
                               AS status,
                           CASE WHEN n % 100 < 96 THEN NULL WHEN n % 100 < 98 THEN 30003 WHEN n % 100 < 99 THEN 30005
                                ELSE 30007 END AS error_code
                    FROM generate_series(\(offset + 1)::bigint, \(offset + count)::bigint) n
                ) m
                """)
            try await pool.query(
                """
                INSERT INTO switchboard.campaign_recipients (campaign_id, recipient, line, status, payload, seq)
                SELECT \(campaign), to_address, row_number() OVER (ORDER BY id) + 1, 'queued', '{}',
                       (1::bigint << 32) + row_number() OVER (ORDER BY id)
                FROM switchboard.messages WHERE campaign_id = \(campaign)
                """)
            try await pool.query(
                """
                UPDATE switchboard.campaign_feeds SET recipients = \(count), fed = \(count), completed = \(count)
                WHERE campaign_id = \(campaign)
                """)
            try await pool.query(
                """
                INSERT INTO switchboard.inbound_messages (sid, account_id, from_address, to_address, body, intent,
                    reply_to_sid, campaign_id, received_at)
                SELECT 'SM' || md5('in' || id::text), \(account), to_address, from_address,
                       CASE WHEN id % 500 = 3 THEN 'STOP' ELSE 'Yes' END,
                       CASE WHEN id % 500 = 3 THEN 'opt_out' END, sid, \(campaign), created_at + interval '1 minute'
                FROM switchboard.messages WHERE campaign_id = \(campaign) AND (id % 100 = 7 OR id % 500 = 3)
                """)
        }
        try await pool.query("UPDATE switchboard.campaigns SET created_at = now() - interval '7 hours'")
        try await pool.query("VACUUM ANALYZE")
        return reported
    }
}
