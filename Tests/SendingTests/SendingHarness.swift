import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import SwitchboardWorker
import TestSupport
import Twilio
import TwilioSimulator

let accountSID = "AC" + String(repeating: "0123456789abcdef", count: 2)
let authToken = "sending-test-auth-token"

/// A migrated database, a Twilio simulator on loopback, an account "main", and a worker with the
/// sending handlers: the whole path a message takes.
struct SendingHarness {
    let db: TestDatabase
    let simulator: TwilioSimulator
    let vault: CredentialVault
    var accounts: AccountStore { AccountStore(pool: db.pool, vault: vault) }
    var deliveries: DeliveryStore { DeliveryStore(pool: db.pool) }

    static func with<T: Sendable>(
        simulator configure: (inout SimulatorConfiguration) -> Void = { _ in },
        clientTimeout: Duration = .seconds(5), token: String = authToken,
        worker configureWorker: (inout WorkerConfiguration) -> Void = { _ in },
        _ body: (SendingHarness, Worker) async throws -> T
    ) async throws -> T {
        try await idle(simulator: configure, token: token) { harness in
            try await harness.runningWorker(clientTimeout: clientTimeout, configure: configureWorker) { worker in
                try await body(harness, worker)
            }
        }
    }

    /// Runs a worker process with the sending handlers for the duration of `body`.
    func runningWorker<T: Sendable>(
        clientTimeout: Duration = .seconds(5), carrierWindow: Duration = .seconds(60),
        configure: (inout WorkerConfiguration) -> Void = { _ in }, _ body: (Worker) async throws -> T
    ) async throws -> T {
        let client = TwilioClient(configuration: .init(baseURL: simulator.baseURL!, timeout: clientTimeout))
        let handlers = HandlerRegistry.sending(
            client: client, accounts: accounts, deliveries: deliveries, carrierWindow: carrierWindow)
        return try await withWorker(
            db, handlers: handlers,
            configure: {
                $0.pollInterval = .milliseconds(100)
                $0.retryPolicy = RetryPolicy(
                    base: .milliseconds(20), cap: .milliseconds(100), minimum: .milliseconds(5))
                configure(&$0)
            }, body)
    }

    /// The same without a worker: for tests that drive a service (the campaign feeder) themselves.
    static func idle<T: Sendable>(
        simulator configure: (inout SimulatorConfiguration) -> Void = { _ in }, token: String = authToken,
        _ body: (SendingHarness) async throws -> T
    ) async throws -> T {
        try await TestDatabase.with { db in
            var configuration = SimulatorConfiguration()
            configuration.accounts = [accountSID: authToken]
            configuration.callbackStep = .milliseconds(10)
            configure(&configuration)
            let simulator = TwilioSimulator(configuration: configuration)
            let server = try await simulator.start()
            defer { server.stop() }
            let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
            let harness = SendingHarness(db: db, simulator: simulator, vault: vault)
            try await harness.accounts.upsert(name: "main", accountSID: accountSID, secret: token)
            return try await body(harness)
        }
    }

    func sms(_ to: String, _ body: String, variables: [String: JSONValue] = [:]) async throws -> Int64 {
        try await SendJobs.enqueue(
            MessageRequest(account: "main", to: to, from: "+15557654321", body: body, variables: variables),
            channel: .sms,
            store: db.store
        ).id
    }

    /// Waits until the job is finished; returns it.
    func finished(_ id: Int64) async throws -> JobRecord {
        _ = await eventually(timeout: .seconds(30)) { try await db.store.job(id: id)?.state.isFinished == true }
        return try await db.store.job(id: id)!
    }

    func result(_ job: JobRecord) throws -> [String: JSONValue] {
        guard let result = job.result else { return [:] }
        return try result.decode([String: JSONValue].self)
    }
}
