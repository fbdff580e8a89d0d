import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore
import TestSupport
import Testing

/// `/dashboard/campaigns/{id}`: the report's figures and charts, escaped, no recipient's number;
/// the overview links to it; the recipients' CSV downloads and parses with a standard reader.
@Suite struct CampaignPageTests {
    static let token = "dashboard-test-token-0123"
    static var basic: String { "Basic " + Data("ops:\(token)".utf8).base64EncodedString() }

    @Test func theCampaignPageShowsTheReport() async throws {
        try await WebhookHarness.with(dashboardToken: Self.token) { harness in
            let db = harness.db
            let id = try await CampaignStore(pool: db.pool).create(
                accountID: harness.accountID, name: "summer", channel: .sms, template: PostgresJSON(text: "{}"))
            try await db.pool.query(
                """
                INSERT INTO switchboard.campaign_recipients (campaign_id, recipient, line, status, payload, seq)
                VALUES (\(id), '+12125550191', 2, 'queued', '{}', (1::bigint << 32) + 2),
                       (\(id), '+12125550192', 3, 'queued', '{}', (1::bigint << 32) + 3)
                """)
            try await db.pool.query(
                "UPDATE switchboard.campaign_feeds SET recipients = 2, fed = 2 WHERE campaign_id = \(id)")
            try await db.pool.query(
                """
                INSERT INTO switchboard.messages (sid, account_id, channel, to_address, from_address, body, segments,
                    status, error_code, price, price_unit, campaign_id, sent_at, delivered_at)
                VALUES ('SM' || repeat('c', 32), \(harness.accountID), 'sms', '+12125550191', '+15557654321',
                        '<script>alert(1)</script>', 1, 'delivered', NULL, -0.0079, 'USD', \(id), now(), now()),
                       ('SM' || repeat('d', 32), \(harness.accountID), 'sms', '+12125550192', '<b>+1555</b>',
                        'x', 1, 'undelivered', 30003, -0.0079, 'USD', \(id), now(), NULL)
                """)
            let overview = try await harness.get("/dashboard", authorization: Self.basic)
            #expect(
                overview.body.contains("<a href=\"/dashboard/campaigns/\(id)\">main/summer</a>"), "\(overview.body)")

            let page = try await harness.get("/dashboard/campaigns/\(id)", authorization: Self.basic)
            #expect(page.status == 200)
            #expect(page.body.contains("Campaign summer"))
            #expect(page.body.contains("30003"))
            #expect(page.body.contains("0.0158 USD"))
            #expect(page.body.contains("<svg"), "the chart")
            #expect(!page.body.contains("<b>+1555</b>") && page.body.contains("&lt;b&gt;+1555&lt;/b&gt;"), "escaped")
            #expect(!page.body.contains("+12125550191") && !page.body.contains("+12125550192"), "no recipient shown")
            #expect(try await harness.get("/dashboard/campaigns/\(id)").status == 401)
            #expect(try await harness.get("/dashboard/campaigns/999999", authorization: Self.basic).status == 404)

            let csv = try await harness.get("/dashboard/campaigns/\(id)/recipients.csv", authorization: Self.basic)
            #expect(csv.status == 200)
            let rows = try parseWithStandardCSVReader(csv.body)
            #expect(rows.first == RecipientOutcome.csvHeader)
            #expect(rows.dropFirst().map { $0[0] } == ["+12125550191", "+12125550192"])
            #expect(rows[2][4] == "undelivered" && rows[2][5] == "30003")
            #expect(try await harness.get("/dashboard/campaigns/\(id)/recipients.csv").status == 401)
        }
    }
}
