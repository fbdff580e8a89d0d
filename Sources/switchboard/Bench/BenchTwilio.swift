import AsyncHTTPClient
import Logging
import Postgres
import ServiceTask
import SwitchboardStore
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
