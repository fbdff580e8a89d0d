import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import Twilio
import TwilioSimulator

/// `bench prices`: pricing a campaign's messages — one fetch per message against reading each
/// sender's day from the list endpoint, 1000 a page — with the Twilio requests each needs, beside
/// the database's share measured alone (recording the same prices without asking Twilio).
struct PriceBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prices",
        abstract: "Prices fetched per second and Twilio requests per 1000 messages: single fetches against list pages.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Messages priced per run.") var messages = 20_000
    @Option(help: "Senders the messages are spread over.") var senders = 10
    @Option(help: "Twilio requests in flight at once (the pricer's concurrency).") var concurrency = 4

    func validate() throws {
        guard messages >= 1, senders >= 1, concurrency >= 1 else {
            throw ValidationError("--messages, --senders and --concurrency must be at least 1")
        }
    }

    func run() async throws {
        try await options.withScratchDatabase(poolSize: 8) { pool, description in
            try await measure(pool: pool, server: description)
        }
    }

    private func measure(pool: PostgresPool, server: String) async throws {
        let twilio = try await BenchTwilio.start(pool: pool, accountSID: "AC" + String(repeating: "9c1e", count: 8)) {
            $0.callbackStep = .milliseconds(1)
        }
        defer { twilio.stop() }
        let simulator = twilio.simulator
        let accounts = twilio.accounts
        let accountID = twilio.accountID
        let http = makeSendingHTTPClient(connections: 32)
        let client = twilio.client(http)
        say("switchboard bench prices — \(server); simulator on \(simulator.baseURL!)")
        say(
            "machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(messages) messages from \(senders) senders, \(concurrency) requests in flight"
        )
        let sent = try await send(client: client, credentials: twilio.credentials)
        try await pool.query(
            """
            INSERT INTO switchboard.messages (sid, account_id, channel, to_address, from_address, status)
            SELECT sid, \(accountID), 'sms', to_address, from_address, 'delivered'
            FROM unnest(\(sent.map(\.sid))::text[], \(sent.map(\.to))::text[], \(sent.map(\.from))::text[])
                AS s(sid, to_address, from_address)
            """)
        let charged = Dictionary(
            await simulator.messages().compactMap { message in message.price.map { (message.resource.sid, $0) } },
            uniquingKeysWith: { first, _ in first })
        guard charged.count == messages else {
            throw CommandFailure("the simulator priced \(charged.count) of \(messages) messages")
        }

        var singles: [Double] = []
        var listed: [Double] = []
        var recordOnly: [Double] = []
        var singleRequests = 0
        var listRequests = 0
        for run in 1...options.runs {
            // The reference: the database's work alone, the same prices recorded without asking Twilio.
            try await reset(pool)
            let start = ContinuousClock.now
            let prices = charged.map { PublishedPrice(sid: $0.key, price: $0.value, unit: "USD")! }
            for chunk in stride(from: 0, to: prices.count, by: 1000) {
                try await PriceStore(pool: pool).record(
                    .message, Array(prices[chunk..<min(chunk + 1000, prices.count)]))
            }
            let reference = Double(messages) / (ContinuousClock.now - start).seconds
            let (single, singleCount) = try await price(pool, client, accounts, simulator, listThreshold: .max)
            let (list, listCount) = try await price(pool, client, accounts, simulator, listThreshold: 20)
            singles.append(single)
            listed.append(list)
            recordOnly.append(reference)
            singleRequests = singleCount
            listRequests = listCount
            say(
                "run \(run): single fetches \(formatted(single)) prices/s (\(singleCount) requests); list pages \(formatted(list)) prices/s (\(listCount) requests); recording alone \(formatted(reference)) prices/s"
            )
        }
        try await http.shutdown()
        let single = Statistics.median(singles)
        let list = Statistics.median(listed)
        let reference = Statistics.median(recordOnly)
        say("")
        say("result (median of \(options.runs) runs):")
        say(
            "  single fetches: \(formatted(single)) prices/s, \(formatted(Double(singleRequests) * 1000 / Double(messages), decimals: 1)) Twilio requests per 1000 messages"
        )
        say(
            "  list pages:     \(formatted(list)) prices/s, \(formatted(Double(listRequests) * 1000 / Double(messages), decimals: 1)) Twilio requests per 1000 messages"
        )
        say("  recording alone (reference, no Twilio requests): \(formatted(reference)) prices/s")
        say(
            "method: \(messages) messages sent through the simulator, their rows and price checks (due now) written; the pricer takes"
        )
        say(
            "passes of 1000 checks until none waits, once fetching every message (GET Messages/{sid}) and once reading each sender's"
        )
        say(
            "day from the list endpoint (PageSize 1000); each price recorded on the row, the totals and the (absent) job; requests counted"
        )
        say("by the simulator. The reference records the same prices in batches of 1000 without any request.")
        if options.json {
            say(
                "{\"single_per_s\": \(formatted(single)), \"list_per_s\": \(formatted(list)), \"record_per_s\": \(formatted(reference)), \"single_requests_per_1000\": \(formatted(Double(singleRequests) * 1000 / Double(messages), decimals: 1)), \"list_requests_per_1000\": \(formatted(Double(listRequests) * 1000 / Double(messages), decimals: 1)), \"runs\": \(options.runs)}"
            )
        }
    }

    struct Sent {
        var sid: String
        var to: String
        var from: String
    }

    /// Sends the messages through the simulator (32 at a time) and waits until all are sent.
    private func send(client: TwilioClient, credentials: TwilioCredentials) async throws -> [Sent] {
        let messages = self.messages
        let senders = self.senders
        let sent = try await withThrowingTaskGroup(of: [Sent].self) { group in
            for worker in 0..<32 {
                group.addTask {
                    var sent: [Sent] = []
                    for n in stride(from: worker, to: messages, by: 32) {
                        let to = String(format: "+1555%07d", n)
                        let from = String(format: "+1555765%04d", n % senders)
                        let request = CreateMessageRequest(to: to, from: from, body: "Bench \(n)")
                        let (message, _) = try await client.createMessage(request, credentials: credentials)
                        sent.append(Sent(sid: message.sid, to: to, from: from))
                    }
                    return sent
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        try await Task.sleep(for: .milliseconds(500))
        return sent
    }

    private func reset(_ pool: PostgresPool) async throws {
        try await pool.query("UPDATE switchboard.messages SET price = NULL, price_unit = NULL")
        try await pool.query("TRUNCATE switchboard.cost_totals, switchboard.price_checks")
        try await pool.query("VACUUM ANALYZE switchboard.messages")
    }

    /// Files a due check per message, then runs pricer passes until none waits: prices per second
    /// and the requests it took.
    private func price(
        _ pool: PostgresPool, _ client: TwilioClient, _ accounts: AccountStore, _ simulator: TwilioSimulator,
        listThreshold: Int
    ) async throws -> (Double, Int) {
        try await reset(pool)
        try await pool.query(
            """
            INSERT INTO switchboard.price_checks (resource, sid, account_id, from_address, created_at, next_check_at)
            SELECT 'message', sid, account_id, from_address, created_at, now() FROM switchboard.messages
            """)
        var configuration = Pricer.Configuration()
        configuration.concurrency = concurrency
        configuration.listThreshold = listThreshold
        let pricer = Pricer(
            store: PriceStore(pool: pool), client: client, accounts: accounts, configuration: configuration,
            logger: quietLogger())
        let requestsBefore = await simulator.restReads()
        let start = ContinuousClock.now
        var priced = 0
        while priced < messages {
            let pass = try await pricer.pass()
            guard pass.checked > 0 else { throw CommandFailure("checks left unpriced: \(messages - priced)") }
            priced += pass.priced
        }
        let seconds = (ContinuousClock.now - start).seconds
        return (Double(messages) / seconds, await simulator.restReads() - requestsBefore)
    }
}
