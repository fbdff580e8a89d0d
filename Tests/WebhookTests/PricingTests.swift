import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import SwitchboardWorker
import TestSupport
import Testing
import Twilio
import TwilioSimulator

/// Prices over real HTTP: the simulator publishes a message's price some time after sending (as
/// Twilio does); the status callback files a price check; the worker's pricer asks until the
/// price is there and records it on the row, in the job's result, the cost totals and an event.
@Suite struct PricingTests {
    static let sender = "+15557654321"

    func simulator(priceDelay: Duration) -> SimulatorConfiguration {
        var configuration = SimulatorConfiguration()
        configuration.accounts = [accountSID: authToken]
        configuration.callbackStep = .milliseconds(20)
        configuration.priceDelay = priceDelay
        configuration.outcomes = ["+15550009102": .undelivered(code: 30003), "+15550009103": .failed(code: 30006)]
        return configuration
    }

    func pricer(_ hooks: WebhookHarness, _ client: TwilioClient, listThreshold: Int) -> Pricer {
        var configuration = Pricer.Configuration()
        configuration.schedule = PriceCheckSchedule(delays: [.milliseconds(400)], giveUpAfter: .seconds(4))
        configuration.interval = .milliseconds(100)
        configuration.listThreshold = listThreshold
        var logger = Logger(label: "test.pricer")
        logger.logLevel = .warning
        return Pricer(
            store: PriceStore(pool: hooks.db.pool), client: client, accounts: hooks.accounts,
            configuration: configuration, logger: logger)
    }

    func result(_ hooks: WebhookHarness, _ id: Int64) async throws -> [String: JSONValue] {
        try await hooks.db.store.job(id: id)?.result?.decode([String: JSONValue].self) ?? [:]
    }

    @Test func aPricePublishedLateReachesTheResultTheRowTheTotalsAndAnEvent() async throws {
        try await WebhookHarness.with(.live, firstPriceCheck: .milliseconds(200)) { hooks in
            let simulator = TwilioSimulator(configuration: simulator(priceDelay: .milliseconds(1500)))
            let server = try await simulator.start()
            defer { server.stop() }
            let events = EventStore(pool: hooks.db.pool, vault: hooks.vault)
            _ = try await events.subscribe(
                url: "http://127.0.0.1:9/unused", eventTypes: ["message.priced"], account: nil, secret: "s" + "1")
            let (client, handlers) = sendingThrough(
                simulator, accounts: hooks.accounts, pool: hooks.db.pool, webhookBaseURL: hooks.address + "/")
            // Three messages of one sender and day: read from the list endpoint (threshold 2).
            let ids = try await withWorker(
                hooks.db, handlers: handlers, pricer: pricer(hooks, client, listThreshold: 2)
            ) {
                _ in
                var ids: [Int64] = []
                for n in 1...3 {
                    ids.append(
                        try await SendJobs.enqueue(
                            MessageRequest(account: "main", to: "+1555000910\(n)", from: Self.sender, body: "Hi \(n)"),
                            channel: .sms, store: hooks.db.store
                        ).id)
                }
                // Final statuses arrive first, the price later: the result has none yet.
                #expect(
                    await eventually(timeout: .seconds(10)) {
                        try await hooks.db.integer(
                            "SELECT count(*) FROM switchboard.messages WHERE status IN ('delivered', 'undelivered', 'failed')"
                        ) == 3
                    })
                #expect(try await result(hooks, ids[0])["messageCost"] == .null)
                #expect(
                    await eventually(timeout: .seconds(15)) {
                        let first = try await result(hooks, ids[0])["priceStatus"]
                        let second = try await result(hooks, ids[1])["priceStatus"]
                        let third = try await result(hooks, ids[2])["priceStatus"]
                        return first == .string("priced") && second == .string("priced") && third == .string("unknown")
                    })
                return ids
            }
            #expect(await simulator.listReads() > 0)
            // The simulator's own record of what it charged is the independent count.
            let charged = Dictionary(
                await simulator.messages().map { ($0.resource.sid, $0.price) }, uniquingKeysWith: { $1 })
            for id in ids[0...1] {
                let result = try await result(hooks, id)
                guard case .string(let sid) = result["messageSid"] else {
                    Issue.record("no messageSid in \(result)")
                    continue
                }
                #expect(result["messageCost"] == charged[sid].flatMap { $0 }.map(JSONValue.string))
                #expect(result["priceUnit"] == .string("USD"))
                let row = try await hooks.db.pool.query(
                    "SELECT price::text, price_unit FROM switchboard.messages WHERE sid = \(sid)"
                ).firstRow()
                #expect(try row.decode(String.self, at: 0) == "-0.00790")
                #expect(try row.decode(String.self, at: 1) == "USD")
            }
            // The failed message (30006) was never charged: unknown, its check kept and marked.
            #expect(try await result(hooks, ids[2])["messageCost"] == .null)
            let backlog = try await PriceStore(pool: hooks.db.pool).backlog()
            #expect(backlog == PriceBacklog(waiting: 0, unknown: 1, oldestWaiting: nil))
            // Totals: two messages of one sender, what they were charged.
            let costs = try await PriceStore(pool: hooks.db.pool).costs(
                by: .sender, since: Date().addingTimeInterval(-86_400), until: Date())
            #expect(
                costs == [
                    CostTotal(key: Self.sender, resource: "message", priceUnit: "USD", priced: 2, cost: "0.01580")
                ])
            // One event per message: two priced, one unknown.
            let written = try await hooks.db.pool.query(
                """
                SELECT data ->> 'priceStatus', count(*)::int FROM switchboard.events WHERE type = 'message.priced'
                GROUP BY 1 ORDER BY 1
                """
            ).map { (try $0.decode(String.self, at: 0), try $0.decode(Int.self, at: 1)) }
            #expect(written.map(\.0) == ["priced", "unknown"] && written.map(\.1) == [2, 1])
        }
    }

    /// Single fetches (below the list threshold), a message the archiver moved before its price
    /// came, and a call.
    @Test func archivedMessagesAndCallsArePricedByFetchingEach() async throws {
        try await WebhookHarness.with(.live, firstPriceCheck: .milliseconds(200)) { hooks in
            let simulator = TwilioSimulator(configuration: simulator(priceDelay: .seconds(1)))
            let server = try await simulator.start()
            defer { server.stop() }
            let (client, handlers) = sendingThrough(
                simulator, accounts: hooks.accounts, pool: hooks.db.pool, webhookBaseURL: hooks.address + "/")
            let message = try await SendJobs.enqueue(
                MessageRequest(account: "main", to: "+15550009101", from: Self.sender, body: "Hi"), channel: .sms,
                store: hooks.db.store)
            let call = try await SendJobs.enqueue(
                VoiceRequest(account: "main", to: "+15550009104", from: Self.sender, message: "Hello there"),
                store: hooks.db.store)
            // Sent and delivered first, moved to history, then priced.
            try await withWorker(hooks.db, handlers: handlers) { _ in
                #expect(
                    await eventually(timeout: .seconds(10)) {
                        try await hooks.db.integer(
                            "SELECT count(*) FROM switchboard.messages WHERE status = 'delivered'") == 1
                    })
            }
            #expect(try await DeliveryStore(pool: hooks.db.pool).archive(createdMoreThan: .zero, limit: 100) == 1)
            let reads = await simulator.restReads()
            try await withWorker(hooks.db, handlers: handlers, pricer: pricer(hooks, client, listThreshold: 100)) { _ in
                #expect(
                    await eventually(timeout: .seconds(20)) {
                        let message = try await result(hooks, message.id)["priceStatus"]
                        let call = try await result(hooks, call.id)["priceStatus"]
                        return message == .string("priced") && call == .string("priced")
                    })
            }
            #expect(await simulator.restReads() > reads)
            #expect(await simulator.listReads() == 0)
            let charged = await simulator.calls().first?.price
            #expect(charged != nil)
            #expect(try await result(hooks, call.id)["callCost"] == charged.map(JSONValue.string))
            let history = try await hooks.db.pool.query(
                "SELECT price::text FROM switchboard.message_history"
            ).firstRow().decode(String?.self, at: 0)
            #expect(history == "-0.00790")
            let calls = try await hooks.db.pool.query(
                "SELECT price::text, price_unit FROM switchboard.calls"
            ).firstRow()
            #expect(try calls.decode(String?.self, at: 0) == charged)
            #expect(try calls.decode(String?.self, at: 1) == "USD")
            let byResource = try await PriceStore(pool: hooks.db.pool).costs(
                by: .account, since: Date().addingTimeInterval(-86_400), until: Date())
            #expect(byResource.map(\.resource).sorted() == ["call", "message"])
            #expect(try await PriceStore(pool: hooks.db.pool).backlog().waiting == 0)
        }
    }
}
