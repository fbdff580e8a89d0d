import AsyncHTTPClient
import EmbeddedPostgres
import Logging
import Postgres
import ServiceTask
import SwitchboardProcesses
import SwitchboardStore
import SwitchboardWebhook
import Twilio
import TwilioSimulator

/// A quiet Twilio simulator with one account, stored here as account "bench" (its token sealed
/// by a throwaway master key): what the benchmarks that talk to Twilio start from.
struct BenchTwilio {
    let simulator: TwilioSimulator
    let task: ServiceTask
    let accounts: AccountStore
    let accountID: Int64
    let credentials: TwilioCredentials
    /// Critical messages only, on stderr.
    let quiet: Logger

    static func start(
        pool: PostgresPool, accountSID: String, configure: (inout SimulatorConfiguration) -> Void = { _ in }
    ) async throws -> BenchTwilio {
        let token = "bench-auth-token-not-a-secret"
        var configuration = SimulatorConfiguration()
        configuration.accounts = [accountSID: token]
        configure(&configuration)
        var quiet = Logger(label: "bench") { StreamLogHandler.standardError(label: $0) }
        quiet.logLevel = .critical
        let simulator = TwilioSimulator(configuration: configuration, logger: quiet)
        let task = try await simulator.start()
        let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
        let accounts = AccountStore(pool: pool, vault: vault)
        let accountID = try await accounts.upsert(name: "bench", accountSID: accountSID, secret: token)
        return BenchTwilio(
            simulator: simulator, task: task, accounts: accounts, accountID: accountID,
            credentials: TwilioCredentials(accountSID: accountSID, authToken: token), quiet: quiet)
    }

    /// A client of the simulator over `http`.
    func client(_ http: HTTPClient) -> TwilioClient {
        TwilioClient(configuration: .init(baseURL: simulator.baseURL!, timeout: .seconds(30)), httpClient: http)
    }

    func stop() { task.stop() }
}

/// A webhook process on a free loopback port for a benchmark (errors only in its log), serving
/// `accounts`; stopped with `stop()`.
struct BenchWebhook {
    let process: WebhookProcess
    let task: ServiceTask
    /// Its public URL (`http://127.0.0.1:port`).
    let base: String

    static func start(pool: PostgresPool, accounts: AccountStore, label: String) async throws -> BenchWebhook {
        let port = try EmbeddedPostgres.freePort()
        let base = "http://127.0.0.1:\(port)"
        var configuration = WebhookConfiguration(publicURL: base)
        configuration.port = port
        var logger = Logger(label: label)
        logger.logLevel = .error
        let process = try WebhookProcess(configuration: configuration, pool: pool, accounts: accounts, logger: logger)
        let task = ServiceTask(group: process.serviceGroup())
        while process.port == nil { try await Task.sleep(for: .milliseconds(20)) }
        return BenchWebhook(process: process, task: task, base: base)
    }

    func stop() { task.stop() }
}
