import ArgumentParser
import AsyncHTTPClient
import EmbeddedPostgres
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Postgres
import ServiceTask
import SwitchboardCore
import SwitchboardProcesses
import SwitchboardStore
import SwitchboardWebhook
import Synchronization

/// `bench links`: tracked-link redirects per second through `switchboard webhook` (check the code,
/// read the link, record the click, answer 302), beside `GET /health` on the same server in the
/// same run (the HTTP path with no database work).
struct LinkBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "links", abstract: "Tracked-link redirects per second through the webhook, beside GET /health.")

    @OptionGroup var options: BenchOptions
    @Option(help: "Requests per measurement.") var requests = 20_000
    @Option(help: "Requests in flight at once.") var concurrency = 32

    func validate() throws {
        guard requests >= 1, concurrency >= 1 else {
            throw ValidationError("--requests and --concurrency must be at least 1")
        }
    }

    func run() async throws {
        try await options.withScratchDatabase(poolSize: 20) { pool, description in
            try await measure(pool: pool, server: description)
        }
    }

    private func measure(pool: PostgresPool, server: String) async throws {
        let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
        let accounts = AccountStore(pool: pool, vault: vault)
        let accountID = try await accounts.upsert(
            name: "bench", accountSID: "AC" + String(repeating: "1b0c", count: 8), secret: "bench-links-auth-token-0000"
        )
        let webhook = try await BenchWebhook.start(pool: pool, accounts: accounts, label: "bench.links")
        defer { webhook.stop() }
        let base = webhook.base

        let campaign = try await CampaignStore(pool: pool).create(
            accountID: accountID, name: "links", channel: .sms, template: PostgresJSON(text: "{}"), linkBaseURL: base)
        let links = LinkStore(pool: pool)
        let ids = try await links.ensureLinks(campaignID: campaign, urls: ["https://shop.example/sale"])
        let key = try await links.key()
        // One code per recipient, as a campaign's messages carry them.
        let codes = (0..<requests).map { recipient in
            TrackedLink.code(.init(linkID: ids.values.first!, recipient: Int64(recipient)), key: key)
        }
        let http = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(
                redirectConfiguration: .disallow,
                connectionPool: .init(
                    idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency)))
        say("switchboard bench links — \(server); webhook on \(base)")
        say(
            "machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(requests) requests per measurement, \(concurrency) in flight"
        )
        var redirects: [Double] = []
        var health: [Double] = []
        do {
            for run in 1...options.runs {
                try await pool.query("TRUNCATE switchboard.link_clicks")
                let reference = try await drive(http, count: requests, expecting: 200) { _ in "\(base)/health" }
                let followed = try await drive(http, count: requests, expecting: 302) { "\(base)/l/\(codes[$0])" }
                let clicks = try await pool.query("SELECT count(*) FROM switchboard.link_clicks")[0].decode(
                    Int.self, at: 0)
                guard clicks == requests else { throw CommandFailure("recorded \(clicks) of \(requests) clicks") }
                redirects.append(followed)
                health.append(reference)
                say(
                    "run \(run): redirects \(formatted(followed)) /s (each click recorded); GET /health \(formatted(reference)) /s"
                )
            }
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
        let rate = Statistics.median(redirects)
        let reference = Statistics.median(health)
        say("")
        say("result (median of \(options.runs) runs):")
        say(
            "  tracked-link redirects: \(formatted(rate)) /s (\(formatted(rate / reference, decimals: 2))× GET /health at \(formatted(reference)) /s in the same runs)"
        )
        say(
            "method: one webhook process; a closed loop of \(concurrency) requests in flight over keep-alive loopback connections"
        )
        say(
            "(AsyncHTTPClient, redirects not followed), each to a different recipient's code; every click checked recorded."
        )
        if options.json {
            say(
                "{\"redirects_per_s\": \(formatted(rate)), \"health_per_s\": \(formatted(reference)), \"runs\": \(options.runs)}"
            )
        }
    }

    /// Requests `count` URLs, `concurrency` at a time; the rate per second.
    private func drive(
        _ http: HTTPClient, count: Int, expecting status: Int, url: @escaping @Sendable (Int) -> String
    ) async throws -> Double {
        let tickets = EventBench.Tickets()
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while true {
                        let index = tickets.take()
                        guard index < count else { return }
                        let response = try await http.execute(HTTPClientRequest(url: url(index)), timeout: .seconds(10))
                        _ = try await response.body.collect(upTo: 1 << 16)
                        guard Int(response.status.code) == status else {
                            throw CommandFailure("\(url(index)) answered \(response.status.code)")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(count) / (ContinuousClock.now - start).seconds
    }
}
