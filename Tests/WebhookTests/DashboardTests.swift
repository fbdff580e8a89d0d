import Foundation
import Postgres
import SwitchboardCore
import SwitchboardEvents
import SwitchboardStore
import TestSupport
import Testing

/// `/dashboard` on the webhook process: only with its token, server-rendered from Postgres,
/// everything dynamic escaped and recipients masked.
@Suite struct DashboardTests {
    static let token = "dashboard-test-token-0123"
    static var basic: String { "Basic " + Data("ops:\(token)".utf8).base64EncodedString() }

    @Test func theTokenIsRequiredAndNothingIsServedWithoutOne() async throws {
        try await WebhookHarness.with(dashboardToken: Self.token) { harness in
            let anonymous = try await harness.get("/dashboard")
            #expect(anonymous.status == 401)
            let wrong = try await harness.get(
                "/dashboard", authorization: "Basic " + Data("ops:not-the-token-at-all".utf8).base64EncodedString())
            #expect(wrong.status == 401)
            #expect(try await harness.get("/dashboard", authorization: Self.basic).status == 200)
            #expect(try await harness.get("/dashboard", authorization: "Bearer \(Self.token)").status == 200)
        }
        try await WebhookHarness.with { harness in
            let answer = try await harness.get("/dashboard", authorization: Self.basic)
            #expect(answer.status == 404, "no token, no dashboard")
        }
    }

    @Test func pagesShowQueueHistoryFailuresAndTranscripts() async throws {
        try await WebhookHarness.with(dashboardToken: Self.token) { harness in
            let db = harness.db
            try await db.pool.query("SELECT switchboard.enqueue('sms', '{}'::jsonb, queue => 'marketing')")
            try await DashboardStore(pool: db.pool).sampleQueueDepth()
            // A sender that never sent (its booking time is -infinity).
            try await SenderStore(pool: db.pool).addSender(
                accountID: harness.accountID, address: "+15557654321", kind: .longCode, rate: 4)
            // A failure whose reason tries to inject markup, to a recipient whose number must not show.
            let failed = try await db.integer(
                """
                INSERT INTO switchboard.jobs (kind, payload, state, finished_at, errors)
                VALUES ('sms', '{"to": "+15551234567"}', 'failed', now(),
                        '[{"attempt": 1, "at": "2026-01-01T00:00:00Z", "kind": "permanent",
                           "error": "twilio 21211: <script>alert(1)</script> for +15551234567"}]')
                RETURNING id
                """)
            // A registered 10DLC brand and campaign: their budget per carrier.
            try await db.pool.query(
                """
                INSERT INTO switchboard.brands (account_id, name, tmobile_per_day)
                VALUES (\(harness.accountID), 'acme', 40000)
                """)
            try await db.pool.query(
                """
                INSERT INTO switchboard.ten_dlc_campaigns (brand_id, name, class, per_carrier_per_minute, minor_carrier_per_minute)
                SELECT id, 'mkt', 'standard_50', 2400, 600 FROM switchboard.brands
                """)
            // An event subscription whose URL carries a token and whose note tries markup, with a
            // delivery waiting.
            let events = EventStore(pool: db.pool, vault: harness.vault)
            _ = try await events.subscribe(
                url: "https://crm.example.com/hooks?token=s3cr3t-t0ken", eventTypes: ["*"], account: nil,
                description: "<b>CRM</b>", secret: WebhookSecret().text)
            try await db.pool.query(
                "SELECT switchboard.emit_event('optout.changed', 'address:x', NULL, '{}'::jsonb)")
            let page = try await harness.get("/dashboard", authorization: Self.basic)
            #expect(page.status == 200)
            #expect(page.body.contains("Event webhooks") && page.body.contains("https://crm.example.com/hooks?…"))
            #expect(!page.body.contains("s3cr3t-t0ken") && !page.body.contains("<b>CRM</b>"))
            #expect(page.body.contains("&lt;b&gt;CRM&lt;/b&gt;") && page.body.contains("optout.changed"))
            #expect(page.body.contains("US carrier budgets (A2P 10DLC)"))
            #expect(
                page.body.contains("<td>acme</td><td>mkt</td><td>tmobile</td><td>40.00</td>"),
                "\(page.body)")
            #expect(page.body.contains("<td>marketing</td><td>sms</td><td>available</td><td>1</td>"), "\(page.body)")
            #expect(page.body.contains("<polyline"))
            #expect(page.body.contains("<td>+15557654321</td><td>4/s</td><td>0</td>"), "the sender's load")
            #expect(page.body.contains("<td>\(failed)</td>"))
            #expect(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(!page.body.contains("<script>"))
            #expect(!page.body.contains("5551234567") && page.body.contains("+*********67"))

            let spec = try JSONDecoder().decode(
                VoiceAgentSpec.self,
                from: Data(
                    """
                    {"account": "main", "to": "+15550001111", "from": "+15557654321", "agentType": "questions",
                     "voice": "Polly.Joanna", "language": "en-US", "timeLimit": 600}
                    """.utf8))
            let sessions = SessionStore(pool: db.pool)
            let jobID = try await db.integer(
                "INSERT INTO switchboard.jobs (kind, payload) VALUES ('voice_agent', '{}') RETURNING id")
            let sessionID = try await sessions.open(jobID: Int64(jobID), accountID: harness.accountID, spec: spec)
            let sessionPage = try await harness.get("/dashboard/sessions/\(sessionID)", authorization: Self.basic)
            #expect(sessionPage.status == 200)
            #expect(sessionPage.body.contains("Voice session #\(sessionID)") && sessionPage.body.contains("Transcript"))
            #expect(try await harness.get("/dashboard/sessions/999999", authorization: Self.basic).status == 404)
        }
    }
}
