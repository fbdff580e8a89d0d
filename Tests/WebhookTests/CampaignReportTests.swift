import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import SwitchboardWorker
import Synchronization
import TestSupport
import Testing
import Twilio
import TwilioSimulator

/// A campaign run end to end over real HTTP — imported, fed, sent through the simulator, status
/// callbacks, prices, replies and a STOP through the webhook — and its report checked against an
/// independent count: the simulator's own record of what it accepted, delivered, failed and charged.
@Suite struct CampaignReportTests {
    static let sender = "+15557654321"
    static let us = (1...9).map { String(format: "+1212555%04d", 100 + $0) }
    static let uk = (1...3).map { String(format: "+44770090%04d", 100 + $0) }

    func inbound(_ sid: String, from: String, body: String) -> FormParameters {
        [
            "MessageSid": sid, "SmsMessageSid": sid, "AccountSid": accountSID, "From": from, "To": Self.sender,
            "Body": body, "NumMedia": "0", "SmsStatus": "received", "ApiVersion": "2010-04-01",
        ]
    }

    @Test func theReportEqualsTheSimulatorsOwnCount() async throws {
        try await WebhookHarness.with(.live, firstPriceCheck: .milliseconds(200)) { hooks in
            var configuration = SimulatorConfiguration()
            configuration.accounts = [accountSID: authToken]
            configuration.callbackStep = .milliseconds(20)
            configuration.priceDelay = .milliseconds(300)
            configuration.failedMessagePrice = "-0.00100"
            configuration.outcomes = [
                Self.us[1]: .undelivered(code: 30003), Self.us[2]: .undelivered(code: 30003),
                Self.uk[0]: .undelivered(code: 30005), Self.us[3]: .failed(code: 30006),
            ]
            let simulator = TwilioSimulator(configuration: configuration)
            let server = try await simulator.start()
            defer { server.stop() }
            let (client, handlers) = sendingThrough(
                simulator, accounts: hooks.accounts, pool: hooks.db.pool, webhookBaseURL: hooks.address + "/")

            let campaigns = CampaignStore(pool: hooks.db.pool)
            let template = PostgresJSON(
                text:
                    #"{"account": "main", "from": "+15557654321", "body": "Hi {{name}}, spring sale today. Reply STOP to opt out."}"#
            )
            let id = try await campaigns.create(
                accountID: hooks.accountID, name: "spring", channel: .sms, template: template)
            let campaign = try #require(try await campaigns.campaign(accountID: hooks.accountID, name: "spring"))
            // One name long enough for a second segment.
            let names = (Self.us + Self.uk).indices.map {
                $0 == 4 ? String(repeating: "Maximilian", count: 12) : "P\($0)"
            }
            let csv = "phone,name\n" + zip(Self.us + Self.uk, names).map { "\($0),\($1)" }.joined(separator: "\n")
            let path = NSTemporaryDirectory() + "report-\(UInt32.random(in: 0...UInt32.max)).csv"
            try csv.write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let imported = try await CampaignImport(campaigns: campaigns).run(path: path, campaign: campaign)
            #expect(imported.counts.queued == 12)

            var pricing = Pricer.Configuration()
            pricing.schedule = PriceCheckSchedule(delays: [.milliseconds(300)], giveUpAfter: .seconds(30))
            pricing.interval = .milliseconds(100)
            var logger = Logger(label: "test.pricer")
            logger.logLevel = .warning
            let pricer = Pricer(
                store: PriceStore(pool: hooks.db.pool), client: client, accounts: hooks.accounts,
                configuration: pricing, logger: logger)
            try await withWorker(hooks.db, handlers: handlers, pricer: pricer) { _ in
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        let settled = try await hooks.db.integer(
                            """
                            SELECT count(*) FROM switchboard.messages
                            WHERE status IN ('delivered', 'undelivered', 'failed') AND price IS NOT NULL
                            """)
                        return settled == 12
                    })
            }
            // Two replies from one person, one from another, and a STOP; one from a stranger.
            for (n, (from, body)) in [
                (Self.us[0], "Yes please"), (Self.us[0], "And my friend"), (Self.uk[1], "Interested"),
                (Self.us[5], "STOP"), ("+15550000999", "Who is this?"),
            ].enumerated() {
                let answer = try await hooks.post(
                    "/twilio/messages/inbound", inbound(sid("SM", 900 + n), from: from, body: body))
                #expect(answer.status == 200)
            }

            let report = try #require(try await CampaignReportStore(pool: hooks.db.pool).report(campaignID: id))
            let simulated = await simulator.messages()
            func count(_ status: String) -> Int64 { Int64(simulated.filter { $0.resource.status == status }.count) }
            #expect(report.recipients == 12)
            #expect(report.messages.accepted == Int64(simulated.count))
            #expect(report.messages.delivered == count("delivered"))
            #expect(report.messages.undelivered == count("undelivered"))
            #expect(report.messages.failed == count("failed"))
            #expect(report.messages.inFlight == 0 && report.notYetSent == 0)
            let codes = Dictionary(grouping: simulated.compactMap(\.resource.errorCode), by: { $0 }).mapValues {
                Int64($0.count)
            }
            #expect(Dictionary(uniqueKeysWithValues: report.errors.map { ($0.code, $0.messages) }) == codes)
            #expect(
                report.errors.first { $0.code == 30003 }?.meaning == TwilioErrorClassification.summary(forCode: 30003))
            #expect(report.segments == Int64(simulated.reduce(0) { $0 + $1.segments }))
            #expect(report.segments == 13)
            let charged = simulated.compactMap(\.price).reduce(Decimal(0)) {
                $0 - (Decimal(string: $1, locale: Locale(identifier: "en_US_POSIX")) ?? 0)
            }
            #expect(report.cost.count == 1)
            #expect(Decimal(string: report.cost.first?.amount ?? "") == charged)
            #expect(report.costWaiting == 0 && report.costUnknown == 0)
            #expect(report.replies == 3 && report.repliers == 2)
            #expect(report.optedOutDuring == 1)
            #expect(report.bySender.map(\.key) == [Self.sender])
            #expect(report.byCountry.map(\.key) == ["+1", "+44"])
            #expect(report.byCountry.map(\.accepted) == [9, 3])
            #expect(report.byCountry.map(\.delivered) == [Int64(Self.us.count - 3), Int64(Self.uk.count - 1)])
            let timing = try #require(report.timings.first { $0.span == "accepted → delivered" })
            #expect(timing.messages == report.messages.delivered)
            #expect((timing.p50 ?? -1) >= 0)
            #expect(report.overTime.buckets.reduce(0) { $0 + $1.accepted } == 12)
            #expect(report.overTime.buckets.reduce(0) { $0 + $1.replies } == 3)

            // The report's CSV and the recipients' export, read back by Python's csv module.
            let reportRows = try parseWithStandardCSVReader(report.csvRows.map(CSVWriter.record).joined())
            #expect(reportRows.count == report.csvRows.count)
            #expect(reportRows.contains(["summary", "spring", "delivered", String(report.messages.delivered)]))
            let meaning = try #require(TwilioErrorClassification.summary(forCode: 30003))
            #expect(reportRows.contains(["errors", "30003", "meaning", meaning]))
            let exported = Mutex(CSVWriter.record(RecipientOutcome.csvHeader))
            try await CampaignReportStore(pool: hooks.db.pool).recipients(campaignID: id, batch: 5) { batch in
                for outcome in batch { exported.withLock { $0 += CSVWriter.record(outcome.csvFields) } }
            }
            let rows = try parseWithStandardCSVReader(exported.withLock { $0 })
            #expect(rows.first == RecipientOutcome.csvHeader)
            #expect(rows.count == 13)
            let byRecipient = Dictionary(uniqueKeysWithValues: rows.dropFirst().map { ($0[0], $0) })
            let column = Dictionary(uniqueKeysWithValues: RecipientOutcome.csvHeader.enumerated().map { ($1, $0) })
            for message in simulated {
                let row = try #require(byRecipient[message.resource.to])
                #expect(row[column["message_sid"]!] == message.resource.sid)
                #expect(row[column["message_status"]!] == message.resource.status)
                #expect(row[column["price"]!] == message.price)
            }
            #expect(byRecipient[Self.us[0]]?[column["replies"]!] == "2")
            #expect(byRecipient[Self.us[5]]?[column["opted_out"]!] == "true")
            #expect(byRecipient[Self.us[1]]?[column["error_meaning"]!] == meaning)
            #expect(rows.dropFirst().map { Int($0[column["line"]!]) } == (2...13).map { $0 })
        }
    }
}
