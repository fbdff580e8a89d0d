import Foundation
import SwitchboardStore
import TestSupport
import Testing

/// `switchboard costs`: prices recorded by the store's own function add up by sender and by
/// campaign; the CSV parses with a standard reader; bad options are refused naming them.
@Suite struct CostsCommandTests {
    @Test func costsAddUpAndExport() async throws {
        try await TestDatabase.with { db in
            let account = "AC" + String(repeating: "c057", count: 8)
            let sandbox = try await CLISandbox.start(db, accountSID: account, token: "costs-token-0123456789")
            defer { sandbox.stop() }
            try await db.pool.query(
                """
                INSERT INTO switchboard.campaigns (account_id, name, template) VALUES (1, 'spring', '{}')
                """)
            // Three messages from two senders, two of them for the campaign; one segment costs 0.0079.
            for (n, from, campaign) in [(1, "+15557650001", 1), (2, "+15557650001", 1), (3, "+15557650002", 0)] {
                try await db.pool.query(
                    """
                    INSERT INTO switchboard.messages (sid, account_id, channel, to_address, from_address, status, campaign_id)
                    VALUES ('SM' || \(String(repeating: String(n), count: 32)), 1, 'sms', '+1555000000' || \(n), \(from),
                            'delivered', NULLIF(\(campaign), 0))
                    """)
            }
            let sids = (1...3).map { "SM" + String(repeating: String($0), count: 32) }
            let priced = try await db.pool.query(
                """
                SELECT switchboard.record_prices('message', \(sids)::text[], '{-0.0079,-0.0158,-0.0079}'::numeric[],
                    '{USD,USD,USD}'::text[])
                """
            ).firstRow().decode([String].self, at: 0)
            #expect(priced.sorted() == sids)
            // Recorded once: the same prices again change nothing.
            let again = try await db.pool.query(
                "SELECT switchboard.record_prices('message', \(sids)::text[], '{-1,-1,-1}'::numeric[], '{USD,USD,USD}'::text[])"
            ).firstRow().decode([String].self, at: 0)
            #expect(again.isEmpty)

            let csv = try await sandbox.run(["costs", "--by", "sender", "--since", "1d", "--csv"])
            let rows = try parseWithStandardCSVReader(csv)
            #expect(rows.first == ["sender", "resource", "priced", "cost", "currency"])
            #expect(
                Set(rows.dropFirst()) == [
                    ["+15557650001", "message", "2", "0.0237", "USD"],
                    ["+15557650002", "message", "1", "0.0079", "USD"],
                ], "\(rows)")
            let byCampaign = try await sandbox.run([
                "costs", "--by", "campaign", "--account", "main", "--campaign", "spring",
            ])
            #expect(byCampaign.contains("spring") && byCampaign.contains("0.0237"), "\(byCampaign)")
            #expect(!byCampaign.contains("0.0079 "), "\(byCampaign)")
            // One check waiting, one given up on long ago: `status` shows both; pruning forgets the old one.
            try await db.pool.query(
                """
                INSERT INTO switchboard.price_checks (resource, sid, account_id, created_at, next_check_at, gave_up_at)
                VALUES ('message', 'SM' || repeat('e', 32), 1, now(), now() + interval '1 minute', NULL),
                       ('call', 'CA' || repeat('f', 32), 1, now(), now(), now() - interval '40 days')
                """)
            let status = try await sandbox.run(["status"])
            #expect(
                status.contains("Prices: 1 waiting for Twilio") && status.contains("1 never published"), "\(status)")
            #expect(try await PriceStore(pool: db.pool).pruneGivenUp(olderThan: .seconds(30 * 86_400)) == 1)
            #expect(try await PriceStore(pool: db.pool).backlog().unknown == 0)
            for (arguments, message) in [
                (["costs", "--by", "week"], "--by: 'week' is not one of"),
                (["costs", "--since", "yesterday"], "--since: 'yesterday' is neither a day"),
                (["costs", "--until", "2026-13-01"], "--until: '2026-13-01' is neither a day"),
                (["costs", "--campaign", "spring"], "--campaign: give its --account too"),
                (["costs", "--csv", "--json"], "--csv and --json"),
            ] {
                let (status, output) = try await sandbox.outcome(arguments)
                #expect(status == 64 && output.contains(message), "\(arguments): \(output)")
            }
        }
    }
}
