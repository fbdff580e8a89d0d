import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import Synchronization
import TestSupport
import Testing
import TwilioSimulator

/// A campaign with a tracked link, over real HTTP: the message carries a short link on the
/// campaign's base URL (segments counted on that body), the webhook redirects it to the original
/// URL and counts each click once, previews apart; the report and the export show the clicks.
@Suite struct TrackedLinkFlowTests {
    static let target = "https://shop.example.com/spring-sale?utm_source=sms&utm_campaign=spring"
    /// A client that shows redirects instead of following them (for the process's lifetime).
    static let http = HTTPClient(configuration: .init(redirectConfiguration: .disallow))

    @Test func aClickRedirectsAndIsCountedOncePerClick() async throws {
        try await WebhookHarness.with(.live) { hooks in
            let simulator = TwilioSimulator(configuration: scriptedSimulator([:]))
            let server = try await simulator.start()
            defer { server.stop() }
            let (_, handlers) = sendingThrough(
                simulator, accounts: hooks.accounts, pool: hooks.db.pool, webhookBaseURL: hooks.address + "/")
            let campaigns = CampaignStore(pool: hooks.db.pool)
            // Long enough with the original URL for two segments; one with the short link.
            let body =
                "Hi {{name}}! Our spring sale is on until Sunday, everything 20% off: {{link \"\(Self.target)\"}} Reply STOP to opt out."
            let template = JSONValue.object([
                "account": .string("main"), "from": .string("+15557654321"), "body": .string(body),
            ])
            let id = try await campaigns.create(
                accountID: hooks.accountID, name: "links", channel: .sms,
                template: PostgresJSON(text: template.jsonText),
                linkBaseURL: hooks.address)
            let campaign = try #require(try await campaigns.campaign(accountID: hooks.accountID, name: "links"))
            let path = NSTemporaryDirectory() + "links-\(UInt32.random(in: 0...UInt32.max)).csv"
            try "phone,name\n+12125550181,Ana\n+12125550182,Ben\n".write(
                toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            _ = try await CampaignImport(campaigns: campaigns).run(path: path, campaign: campaign)
            try await withWorker(hooks.db, handlers: handlers) { _ in
                #expect(await eventually(timeout: .seconds(20)) { await simulator.messages().count == 2 })
            }
            let messages = await simulator.messages().sorted { $0.resource.to < $1.resource.to }
            let bodies = messages.compactMap(\.resource.body)
            #expect(bodies.count == 2)
            #expect(bodies.allSatisfy { !$0.contains("shop.example.com") && $0.contains(hooks.address + "/l/") })
            #expect(messages.map(\.segments) == [1, 1], "segments counted on the shortened body: \(bodies)")
            #expect(
                Segments.count(body.replacingOccurrences(of: "{{link \"\(Self.target)\"}}", with: Self.target)).segments
                    == 2)
            let links = bodies.map { body in
                String(body[body.range(of: hooks.address + "/l/")!.lowerBound...].prefix { !$0.isWhitespace })
            }
            #expect(links[0] != links[1], "one link per recipient")

            let http = Self.http
            func open(_ url: String, agent: String?, method: HTTPMethod = .GET) async throws -> (Int, String?) {
                var request = HTTPClientRequest(url: url)
                request.method = method
                if let agent { request.headers.add(name: "User-Agent", value: agent) }
                let response = try await http.execute(request, timeout: .seconds(10))
                _ = try await response.body.collect(upTo: 1 << 16)
                return (Int(response.status.code), response.headers.first(name: "Location"))
            }
            let phone =
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
            #expect(try await open(links[0], agent: phone) == (302, Self.target))
            #expect(try await open(links[0], agent: phone) == (302, Self.target))
            #expect(try await open(links[0], agent: "facebookexternalhit/1.1") == (302, Self.target))
            #expect(try await open(links[1], agent: phone, method: .HEAD).0 == 302)
            // A changed or made-up code is not a link.
            var forged = links[0]
            forged.replaceSubrange(forged.index(before: forged.endIndex)..., with: forged.last == "A" ? "B" : "A")
            #expect(try await open(forged, agent: phone).0 == 404)
            #expect(try await open(hooks.address + "/l/1A00000000000", agent: phone).0 == 404)
            #expect(try await open(hooks.address + "/l/%00%0a", agent: phone).0 == 404)

            let clicks = try await hooks.db.pool.query(
                "SELECT count(*) FILTER (WHERE NOT bot)::int, count(*) FILTER (WHERE bot)::int FROM switchboard.link_clicks"
            ).firstRow()
            #expect(try clicks.decode(Int.self, at: 0) == 2 && clicks.decode(Int.self, at: 1) == 2)
            let report = try #require(try await CampaignReportStore(pool: hooks.db.pool).report(campaignID: id))
            #expect(report.clicks.clicks == 2 && report.clicks.uniqueRecipients == 1 && report.clicks.bots == 2)
            #expect(report.overTime.buckets.reduce(0) { $0 + $1.clicks } == 2)
            let exported = Mutex<[String: Int]>([:])
            try await CampaignReportStore(pool: hooks.db.pool).recipients(campaignID: id) { batch in
                for outcome in batch { exported.withLock { $0[outcome.recipient] = outcome.clicks } }
            }
            #expect(exported.withLock { $0 } == ["+12125550181": 2, "+12125550182": 0])

            // Links kept as long as the user wants: here, one day; past it, 410 and not counted.
            try await hooks.db.pool.query(
                "UPDATE switchboard.campaigns SET links_expire_after = interval '1 day' WHERE id = \(id)")
            #expect(try await open(links[1], agent: phone).0 == 302)
            try await hooks.db.pool.query("UPDATE switchboard.links SET created_at = now() - interval '2 days'")
            #expect(try await open(links[1], agent: phone).0 == 410)
            let total = try await hooks.db.integer("SELECT count(*) FROM switchboard.link_clicks")
            #expect(total == 5)
        }
    }
}
