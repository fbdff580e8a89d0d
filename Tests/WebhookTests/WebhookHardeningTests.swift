import AsyncHTTPClient
import Foundation
import InMemoryLogging
import Logging
import Postgres
import SwitchboardStore
import TestSupport
import Testing
import Twilio

@testable import SwitchboardWebhook

/// Issue 11 §6, §7, §8, §10: what hostile or broken conditions get from the webhook process.
@Suite struct WebhookHardeningTests {
    /// §7: an 8,000-character MessageSid used to reach an index and give 500; §8: a NUL byte was
    /// silently cut off by the C string it travelled in.
    @Test func badFieldsAre400NamingTheFieldAndNothingIsStored() async throws {
        try await WebhookHarness.with { hooks in
            let long: FormParameters = [
                "MessageSid": "SM" + String(repeating: "a", count: 8000), "MessageStatus": "delivered",
                "AccountSid": accountSID,
            ]
            let tooLong = try await hooks.post("/twilio/messages/status", long)
            #expect(tooLong.status == 400 && tooLong.body.contains("MessageSid"), "\(tooLong)")
            let nul: FormParameters = [
                "MessageSid": sid("SM", 41), "AccountSid": accountSID, "From": "+15550006666", "To": "+15557654321",
                "Body": "STOP\u{0}please",
            ]
            let refused = try await hooks.post("/twilio/messages/inbound", nul)
            #expect(refused.status == 400 && refused.body.contains("Body contains a NUL byte"), "\(refused)")
            let badAccount: FormParameters = [
                "MessageSid": sid("SM", 42), "MessageStatus": "sent", "AccountSid": "ACnope",
            ]
            #expect(try await hooks.post("/twilio/messages/status", badAccount).status == 400)
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.inbound_messages") == 0)
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.pending_statuses") == 0)
        }
    }

    /// §7: a database fault was logged at debug only; now at error with its cause, and the answer
    /// tells the caller nothing internal.
    @Test func serverFaultsAreLoggedAtErrorWithTheirCause() async throws {
        let logs = InMemoryLogHandler()
        try await WebhookHarness.with(logs: logs) { hooks in
            try await hooks.db.pool.query("ALTER TABLE switchboard.pending_statuses RENAME TO pending_statuses_gone")
            let form: FormParameters = ["MessageSid": sid("SM", 43), "MessageStatus": "sent", "AccountSid": accountSID]
            let answer = try await hooks.post("/twilio/messages/status", form)
            #expect(answer.status == 500)
            #expect(!answer.body.contains("pending_statuses"), "no internals in the answer: \(answer.body)")
            let errors = logs.entries.filter { $0.level == .error }
            #expect(
                errors.contains {
                    "\($0.message)" == "request failed" && "\($0.metadata["error"] ?? "")".contains("pending_statuses")
                },
                "\(logs.entries)")
        }
    }

    /// §6: with the database unreachable, /ready hung for seconds; it must say 503 at once.
    @Test func readinessAnswersWhileTheDatabaseHangs() async throws {
        try await TestDatabase.with { db in
            // A server that accepts connections and never answers: a database behind a dead link.
            let (blackhole, unreachable) = try DelayingProxy.inFront(of: db.configuration, delay: .seconds(120))
            defer { blackhole.stop() }
            let pool = PostgresPool(configuration: unreachable, options: .init(maxConnections: 2))
            let port = try freeLoopbackPort()
            var configuration = WebhookConfiguration(publicURL: "http://127.0.0.1:\(port)")
            configuration.port = port
            var logger = Logger(label: "test.webhook")
            logger.logLevel = .critical
            let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
            let server = try WebhookServer(
                configuration: configuration, pool: pool, accounts: AccountStore(pool: pool, vault: vault),
                logger: logger)
            let running = ServiceTask(server, logger: logger)
            defer { running.stop() }
            #expect(await eventually(timeout: .seconds(10)) { server.port != nil })
            for _ in 0..<3 {
                let response = try await HTTPClient.shared.execute(
                    HTTPClientRequest(url: "http://127.0.0.1:\(port)/ready"), timeout: .seconds(3))
                #expect(response.status.code == 503)
            }
            let health = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/health"), timeout: .seconds(3))
            #expect(health.status.code == 200)
        }
    }
}

/// §10: forged requests with random AccountSids cost a query each (5,696 requests, 5,056
/// transactions). Unknown SIDs are now answered from the set of known ones.
@Suite struct TokenCacheTests {
    final class CountingSource: @unchecked Sendable {
        let lock = NSLock()
        var tokenLookups = 0
        var directoryReads = 0
        let known = "AC" + String(repeating: "0123456789abcdef", count: 2)

        var source: TokenCache.Source {
            TokenCache.Source(
                token: { sid in
                    self.lock.withLock { self.tokenLookups += 1 }
                    return sid == self.known ? TokenCache.Entry(accountID: 1, token: "secret") : nil
                },
                knownSIDs: {
                    self.lock.withLock { self.directoryReads += 1 }
                    return [self.known]
                })
        }
    }

    @Test func forgedAccountSidsCostNoLookupEach() async throws {
        let counting = CountingSource()
        let cache = TokenCache(source: counting.source, directoryRefresh: .seconds(3600))
        for n in 0..<5000 {
            #expect(try await cache.token(accountSID: "AC" + String(format: "%032x", n + 1)) == nil)
            #expect(try await cache.token(accountSID: "nonsense-\(n)") == nil)
        }
        #expect(try await cache.token(accountSID: counting.known)?.token == "secret")
        #expect(try await cache.token(accountSID: counting.known)?.token == "secret")
        #expect(counting.directoryReads == 1)
        #expect(counting.tokenLookups == 1, "only the known account's token was looked up, once")
    }

    @Test func aNewAccountIsFoundAfterTheDirectoryIsReadAgain() async throws {
        let counting = CountingSource()
        let cache = TokenCache(source: counting.source, directoryRefresh: .zero)
        #expect(try await cache.token(accountSID: counting.known) != nil)
        #expect(counting.directoryReads == 1)
    }
}
