import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import TestSupport
import Testing

@Suite struct CampaignTests {
    func writeCSV(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "campaign-\(UInt32.random(in: 0...UInt32.max)).csv"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func makeCampaign(_ harness: SendingHarness, name: String) async throws -> CampaignRecord {
        let account = try #require(try await harness.accounts.account(named: "main")).id
        let template = PostgresJSON(
            text: #"{"account": "main", "from": "+15557654321", "body": "Hi {{name}}, your code is {{code}}"}"#)
        let campaigns = CampaignStore(pool: harness.db.pool)
        try await campaigns.create(accountID: account, name: name, channel: .sms, template: template)
        return try #require(try await campaigns.campaign(accountID: account, name: name))
    }

    @Test func importValidatesDeduplicatesAndSkipsOptedOut() async throws {
        try await SendingHarness.idle { harness in
            let campaign = try await makeCampaign(harness, name: "spring")
            try await harness.deliveries.suppress(
                accountID: campaign.accountID, address: "+12125550004", reason: "STOP", source: "keyword")
            let csv = """
                phone,name,code
                (212) 555-0001,Ana,111
                +12125550002,"Ben, Jr.",222
                +1555,Broken,333
                2125550001,Ana again,444
                +12125550004,Opted,555
                +12125550005,Short
                +12125550006,Fay,666
                """
            let path = try writeCSV(csv)
            let report = try await CampaignImport(campaigns: CampaignStore(pool: harness.db.pool)).run(
                path: path, campaign: campaign)
            #expect(report.rows == 7)
            #expect(report.counts == CampaignImportCounts(queued: 3, duplicates: 1, optedOut: 1))
            #expect(report.invalidCount == 2)
            #expect(report.invalid[0].hasPrefix("line 4: phone: '+1555' is not a valid E.164 number"))
            #expect(report.invalid[1] == "line 7: row: has 2 fields; the header has 3")
            // Rendered and validated now; sent later, when the feeder makes their jobs.
            let bodies = try await harness.db.pool.query(
                """
                SELECT payload_json->>'body' FROM switchboard.campaign_recipients
                WHERE status = 'pending' ORDER BY seq
                """
            )
            .map { try $0.decode(String.self, at: 0) }
            #expect(
                bodies == ["Hi Ana, your code is 111", "Hi Ben, Jr., your code is 222", "Hi Fay, your code is 666"])
            #expect(try await harness.db.jobCount() == 0)
            let progress = try #require(try await CampaignStore(pool: harness.db.pool).progress(id: campaign.id))
            #expect(progress.recipients == 3 && progress.optedOut == 1 && progress.fed == 0 && progress.pending == 3)
        }
    }

    @Test(.wallClockLane, .tags(.wallClock)) func aCampaignRateCapHoldsAcrossItsSenders() async throws {
        try await SendingHarness.with { harness, _ in
            let account = try #require(try await harness.accounts.account(named: "main")).id
            let senders = SenderStore(pool: harness.db.pool)
            let a = try await senders.addSender(accountID: account, address: "+14155550001", kind: .longCode, rate: 10)
            let b = try await senders.addSender(accountID: account, address: "+14155550002", kind: .longCode, rate: 10)
            try await senders.createPool(accountID: account, name: "fast", senderIDs: [a, b])
            let campaigns = CampaignStore(pool: harness.db.pool)
            let id = try await campaigns.create(
                accountID: account, name: "capped", channel: .sms,
                template: PostgresJSON(text: #"{"account": "main", "pool": "fast", "body": "Hi {{name}}"}"#), rateCap: 2
            )
            let campaign = try #require(try await campaigns.campaign(accountID: account, name: "capped"))
            #expect(campaign.id == id)
            let csv =
                "phone,name\n"
                + (0..<8).map { "+121255520\(String(format: "%02d", $0)),N\($0)" }.joined(separator: "\n")
            _ = try await CampaignImport(campaigns: campaigns).run(path: try writeCSV(csv), campaign: campaign)
            // The feeder spread the jobs at the campaign's pace (8 at 2/s: 3.5 s from first to last).
            #expect(await eventually { try await harness.db.jobCount() == 8 })
            let spread = try await harness.db.pool.query(
                "SELECT extract(epoch FROM max(run_at) - min(run_at))::float8 FROM switchboard.all_jobs"
            ).firstRow().decode(
                Double.self, at: 0)
            #expect(abs(spread - 3.5) < 0.01)
            #expect(await eventually { try await harness.db.jobCount(state: "completed") == 8 })
            let times = await harness.simulator.messages().map(\.receivedAt).sorted()
            // The senders could do 20/s together; the campaign is capped at 2/s.
            for (index, start) in times.enumerated() {
                let inWindow = times[index...].prefix { $0 - start < .seconds(1) }.count
                #expect(inWindow <= 3, "at most 2 per second plus one at the boundary: \(inWindow)")
            }
            #expect((times.last! - times.first!).seconds > 3.0, "8 messages at 2/s span about 3.5 s")
            let attempts = try await harness.db.integer("SELECT max(attempt) FROM switchboard.all_jobs")
            #expect(attempts == 1)
        }
    }

    @Test func pauseHoldsSendsAndCancelEndsThem() async throws {
        try await SendingHarness.with { harness, _ in
            let campaign = try await makeCampaign(harness, name: "flash")
            let campaigns = CampaignStore(pool: harness.db.pool)
            try await campaigns.setState(id: campaign.id, .paused)
            let csv =
                "phone,name,code\n"
                + (0..<6).map { "+121255510\(String(format: "%02d", $0)),N\($0),\($0)" }.joined(separator: "\n")
            _ = try await CampaignImport(campaigns: campaigns).run(path: try writeCSV(csv), campaign: campaign)
            // Paused: nothing is fed (a pass of our own, beside the worker process's feeder).
            let feeder = CampaignFeeder(campaigns: campaigns, lookahead: .seconds(60), logger: Logger(label: "test"))
            try await feeder.feedOnce()
            #expect(try await harness.db.jobCount() == 0)
            #expect(await harness.simulator.messages().isEmpty)
            try await campaigns.setState(id: campaign.id, .active)
            #expect(await eventually { try await harness.db.jobCount(state: "completed") == 6 })
            #expect(await harness.simulator.messages().count == 6)
            let status = try await campaigns.status(id: campaign.id)
            #expect(status.jobs["completed"] == 6)
            #expect(status.deliveries.values.reduce(0, +) == 6)
            #expect(await eventually { try await campaigns.progress(id: campaign.id)?.finishedAt != nil })
        }
    }

    @Test func jobsFedBeforeAPauseAreHeldAndCancelledWithTheCampaign() async throws {
        try await SendingHarness.idle { harness in
            let campaign = try await makeCampaign(harness, name: "held")
            let campaigns = CampaignStore(pool: harness.db.pool)
            let csv =
                "phone,name,code\n"
                + (0..<6).map { "+131255510\(String(format: "%02d", $0)),N\($0),\($0)" }.joined(separator: "\n")
            _ = try await CampaignImport(campaigns: campaigns).run(path: try writeCSV(csv), campaign: campaign)
            let feeder = CampaignFeeder(campaigns: campaigns, lookahead: .seconds(60), logger: Logger(label: "test"))
            try await feeder.feedOnce()
            #expect(try await harness.db.jobCount(state: "available") == 6)
            try await campaigns.setState(id: campaign.id, .paused)
            try await harness.runningWorker { _ in
                // The worker takes each job and puts it back, its attempt given back, sending nothing.
                #expect(
                    await eventually {
                        try await harness.db.integer(
                            """
                            SELECT count(*) FROM switchboard.all_jobs
                            WHERE attempted_at IS NOT NULL AND state IN ('available', 'running') AND attempt <= 1
                            """) == 6
                    })
                #expect(await harness.simulator.messages().isEmpty)
                // Cancelled: the waiting jobs end at once; one a worker holds, at its check.
                try await campaigns.cancel(id: campaign.id)
                #expect(await eventually { try await campaigns.status(id: campaign.id).jobs["cancelled"] == 6 })
            }
            #expect(await harness.simulator.messages().isEmpty, "nothing of the cancelled campaign was sent")
            try await feeder.feedOnce()
            #expect(try await harness.db.jobCount() == 6, "a cancelled campaign is fed no more")
        }
    }
}
