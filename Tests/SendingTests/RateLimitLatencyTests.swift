import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardProcesses
import SwitchboardSending
import SwitchboardStore
import SwitchboardWorker
import TestSupport
import Testing
import Twilio
import TwilioSimulator

/// Issue 11 §3: a booking round trip slower than one slot (a fast sender, or a database a few
/// milliseconds away) used to make every job give its slot up and book another, for ever: nothing
/// was sent, no attempt used, nothing logged. Here the worker reaches PostgreSQL through a proxy
/// that adds 3 ms each way, and the sender allows 2,000 segments per second (a slot every 0.5 ms).
@Suite(.serialized, .wallClockLane, .tags(.wallClock)) struct RateLimitLatencyTests {
    @Test func aFastSenderBehindASlowDatabaseSendsEveryMessage() async throws {
        try await TestDatabase.with { db in
            let (proxy, distant) = try DelayingProxy.inFront(of: db.configuration, delay: .milliseconds(3))
            defer { proxy.stop() }
            let slowPool = PostgresPool(configuration: distant, options: .init(maxConnections: 10))
            defer { Task { await slowPool.close() } }
            let started = ContinuousClock.now
            _ = try await slowPool.query("SELECT 1")
            _ = try await slowPool.query("SELECT 1")
            #expect(ContinuousClock.now - started >= .milliseconds(12), "the proxy delays round trips")

            var configuration = SimulatorConfiguration()
            configuration.accounts = [accountSID: authToken]
            configuration.callbackStep = .milliseconds(10)
            let simulator = TwilioSimulator(configuration: configuration)
            let server = try await simulator.start()
            defer { server.stop() }
            let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
            let accounts = AccountStore(pool: slowPool, vault: vault)
            let accountID = try await accounts.upsert(name: "main", accountSID: accountSID, secret: authToken)
            try await SenderStore(pool: db.pool).addSender(
                accountID: accountID, address: "+15557654321", kind: .tollFree, rate: 2000)
            var ids: [Int64] = []
            for n in 0..<300 {
                ids.append(
                    try await SendJobs.enqueue(
                        MessageRequest(
                            account: "main", to: "+1212555\(String(format: "%04d", n))", from: "+15557654321",
                            body: "Flash sale \(n)"),
                        channel: .sms, store: db.store
                    ).id)
            }
            let client = TwilioClient(configuration: .init(baseURL: simulator.baseURL!, timeout: .seconds(5)))
            let handlers = HandlerRegistry.sending(
                client: client, accounts: accounts, deliveries: DeliveryStore(pool: slowPool))
            var workerConfiguration = WorkerConfiguration()
            workerConfiguration.pollInterval = .milliseconds(100)
            var logger = Logger(label: "test.worker")
            logger.logLevel = .warning
            let process = try WorkerProcess(
                configuration: .init(worker: workerConfiguration), pool: slowPool, handlers: handlers, logger: logger)
            let worker = process.worker
            let running = Task { try await process.run() }
            let finished = await eventually(timeout: .seconds(60)) {
                try await db.jobCount(state: "completed") == ids.count
            }
            worker.beginShutdown()
            _ = try? await running.value
            let states = try await db.pool.query(
                "SELECT state::text || ' ' || count(*) FROM switchboard.all_jobs GROUP BY state ORDER BY 1"
            ).map { try $0.decode(String.self, at: 0) }
            #expect(finished, "every message sent: \(states)")
            #expect(await simulator.messages().count == ids.count)
            let attempts = try await db.integer("SELECT max(attempt) FROM switchboard.all_jobs")
            #expect(attempts == 1, "waiting for a slot never uses an attempt")
        }
    }
}
