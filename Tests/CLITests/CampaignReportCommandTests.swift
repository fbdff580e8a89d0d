import Foundation
import TestSupport
import Testing

/// `switchboard campaign report`: the table, JSON, the report's CSV and the recipients' export
/// (parsed by a standard reader), and its refusals naming the flag.
@Suite struct CampaignReportCommandTests {
    @Test func reportAndExport() async throws {
        try await TestDatabase.with { db in
            let account = "AC" + String(repeating: "4e90", count: 8)
            let sandbox = try await CLISandbox.start(db, accountSID: account, token: "report-token-0123456789")
            defer { sandbox.stop() }
            try await db.pool.query(
                """
                WITH c AS (
                    INSERT INTO switchboard.campaigns (account_id, name, template) VALUES (1, 'autumn', '{}') RETURNING id
                ), f AS (
                    INSERT INTO switchboard.campaign_feeds (campaign_id, recipients, fed) SELECT id, 3, 3 FROM c
                )
                INSERT INTO switchboard.campaign_recipients (campaign_id, recipient, line, status, payload, seq)
                SELECT c.id, r.recipient, r.line, 'queued', '{}', (1::bigint << 32) + r.line FROM c,
                    (VALUES ('+12125550101', 2), ('+12125550102', 3), ('+447700900103', 4)) r (recipient, line)
                """)
            try await db.pool.query(
                """
                INSERT INTO switchboard.messages (sid, account_id, channel, to_address, from_address, segments, status,
                    error_code, price, price_unit, campaign_id, sent_at, delivered_at, created_at)
                VALUES
                  ('SM' || repeat('a', 32), 1, 'sms', '+12125550101', '+15557654321', 1, 'delivered', NULL, -0.0079, 'USD',
                   1, now() + interval '5 s', now() + interval '10 s', now()),
                  ('SM' || repeat('b', 32), 1, 'sms', '+12125550102', '+15557654321', 2, 'undelivered', 30003, -0.0158, 'USD',
                   1, now() + interval '5 s', NULL, now())
                """)
            let table = try await sandbox.run(["campaign", "report", "--account", "main", "--name", "autumn"])
            #expect(table.contains("campaign autumn (account main)"), "\(table)")
            #expect(table.contains("30003"), "\(table)")
            #expect(table.contains("0.0237 USD"), "\(table)")
            #expect(table.contains("COUNTRY CODE") && table.contains("50.0%"), "\(table)")

            let json = try await sandbox.run(["campaign", "report", "--account", "main", "--name", "autumn", "--json"])
            let decoded = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            let messages = decoded?["messages"] as? [String: Any]
            #expect(messages?["accepted"] as? Int == 2 && messages?["delivered"] as? Int == 1, "\(json)")

            let reportCSV = try parseWithStandardCSVReader(
                try await sandbox.run(["campaign", "report", "--account", "main", "--name", "autumn", "--csv"]))
            #expect(reportCSV.first == ["section", "key", "metric", "value"])
            #expect(reportCSV.contains(["summary", "autumn", "undelivered", "1"]))

            let recipients = try parseWithStandardCSVReader(
                try await sandbox.run([
                    "campaign", "report", "--account", "main", "--name", "autumn", "--recipients", "--csv",
                ]))
            #expect(recipients.count == 4)
            #expect(recipients.first?.first == "recipient")
            #expect(recipients.dropFirst().map(\.first) == ["+12125550101", "+12125550102", "+447700900103"])
            #expect(recipients[2][4] == "undelivered" && recipients[2][5] == "30003")
            #expect(recipients[3][3] == "", "not sent: no message")

            for (arguments, message) in [
                (["--json", "--csv"], "--json and --csv: choose one"),
                (["--recipients"], "--recipients: give --csv too"),
            ] {
                let (status, output) = try await sandbox.outcome(
                    ["campaign", "report", "--account", "main", "--name", "autumn"] + arguments)
                #expect(status == 64 && output.contains(message), "\(arguments): \(output)")
            }
            let (status, output) = try await sandbox.outcome([
                "campaign", "report", "--account", "main", "--name", "nope",
            ])
            #expect(status != 0 && output.contains("has no campaign 'nope'"), "\(output)")
        }
    }
}
