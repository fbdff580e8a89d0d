import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import InMemoryLogging
import Logging
import NIOCore
import Postgres
import SwitchboardProcesses
import SwitchboardSending
import SwitchboardStore
import SwitchboardWorker
import TestSupport
import Twilio
import TwilioSimulator

@testable import SwitchboardWebhook

let accountSID = "AC" + String(repeating: "5eb0", count: 8)
let authToken = "webhook-test-auth-token-0001"

/// A migrated database with an account "main", and the webhook serving it: in process through
/// Hummingbird's test client by default (the router with its middleware, no socket), or as a
/// whole webhook process on a loopback port (`.live`: for what needs a socket or the process's
/// maintenance services, and for Twilio's simulator calling back).
struct WebhookHarness: Sendable {
    enum Transport {
        case router
        case live
    }

    let db: TestDatabase
    let vault: CredentialVault
    let accountID: Int64
    /// Where requests are sent (live: the server's address; router: the public URL, for show).
    let address: String
    /// What Twilio would sign (the public URL, e.g. a proxy's).
    let publicURL: String
    /// The in-process client (router transport).
    let client: (any TestClientProtocol)?
    /// The live server's relay sockets and their drain (live transport).
    var relays: RelayDrain? = nil
    var accounts: AccountStore { AccountStore(pool: db.pool, vault: vault) }

    /// `publicURL` nil: the server's own address.
    static func with<T: Sendable>(
        _ transport: Transport = .router, publicURL: String? = nil, maxBodyBytes: Int? = nil,
        llm: LLMConfiguration? = nil, dashboardToken: String? = nil, logs: InMemoryLogHandler? = nil,
        sessionSweepInterval: Duration? = nil, firstPriceCheck: Duration? = nil,
        _ body: @Sendable (WebhookHarness) async throws -> T
    ) async throws -> T {
        try await TestDatabase.with { db in
            let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
            let accounts = AccountStore(pool: db.pool, vault: vault)
            let accountID = try await accounts.upsert(name: "main", accountSID: accountSID, secret: authToken)
            let port = transport == .live ? try freeLoopbackPort() : 8080
            let address = "http://127.0.0.1:\(port)"
            var configuration = WebhookConfiguration(publicURL: publicURL ?? address)
            configuration.port = port
            if let maxBodyBytes { configuration.maxBodyBytes = maxBodyBytes }
            if let llm { configuration.llm = llm }
            configuration.dashboardToken = dashboardToken
            if let sessionSweepInterval { configuration.sessionSweepInterval = sessionSweepInterval }
            if let firstPriceCheck { configuration.firstPriceCheck = firstPriceCheck }
            // A test's end is a shutdown: a socket it left open is handed off at once.
            configuration.drainTimeout = .zero
            var logger =
                logs.map { handler in Logger(label: "test.webhook", factory: { _ in handler }) }
                ?? Logger(label: "test.webhook")
            logger.logLevel = .warning
            let publicURL = configuration.publicURL
            let harness: @Sendable ((any TestClientProtocol)?, RelayDrain?) -> WebhookHarness = { client, relays in
                WebhookHarness(
                    db: db, vault: vault, accountID: accountID, address: address, publicURL: publicURL, client: client,
                    relays: relays)
            }
            switch transport {
            case .router:
                let router = buildWebhookRouter(
                    configuration: configuration, pool: db.pool, accounts: accounts, logger: logger)
                return try await Application(router: router, logger: logger).test(.router) { client in
                    try await body(harness(client, nil))
                }
            case .live:
                let process = try WebhookProcess(
                    configuration: configuration, pool: db.pool, accounts: accounts, logger: logger)
                let running = ServiceTask(group: process.serviceGroup())
                defer { running.stop() }
                guard await eventually(timeout: .seconds(10), { process.port != nil }) else {
                    throw HarnessError(description: "the webhook server did not start")
                }
                return try await body(harness(nil, process.server.relays))
            }
        }
    }

    struct HarnessError: Error, CustomStringConvertible { var description: String }

    struct Answer {
        var status: Int
        var body: String
    }

    /// Posts form parameters as Twilio does, signed over `publicURL + path` (or `signedURL`) with
    /// `token`; `signature` overrides the header (nil: no header at all when `sign` is false).
    func post(
        _ path: String, _ parameters: FormParameters, token: String = authToken, signedURL: String? = nil,
        sign: Bool = true, signature: String? = nil, rawBody: String? = nil
    ) async throws -> Answer {
        var headers: [(String, String)] = [("Content-Type", "application/x-www-form-urlencoded")]
        if sign {
            headers.append(
                (
                    "X-Twilio-Signature",
                    signature
                        ?? TwilioSignature.compute(
                            url: signedURL ?? (publicURL + path), parameters: parameters, authToken: token)
                ))
        }
        return try await send(path, post: true, headers: headers, body: rawBody ?? parameters.encoded)
    }

    func get(_ path: String, authorization: String? = nil) async throws -> Answer {
        try await send(path, post: false, headers: authorization.map { [("Authorization", $0)] } ?? [], body: nil)
    }

    private func send(_ path: String, post: Bool, headers: [(String, String)], body: String?)
        async throws -> Answer
    {
        if let client {
            var fields = HTTPFields()
            for (name, value) in headers { fields[.init(name)!] = value }
            let response = try await client.execute(
                uri: path, method: post ? .post : .get, headers: fields,
                body: body.map { ByteBuffer(string: $0) })
            return Answer(status: Int(response.status.code), body: String(buffer: response.body))
        }
        var request = HTTPClientRequest(url: address + path)
        request.method = post ? .POST : .GET
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let collected = try await response.body.collect(upTo: 1 << 20)
        return Answer(status: Int(response.status.code), body: String(buffer: collected))
    }

    /// A message row as the worker records it, for job `jobID`.
    func recordMessage(sid: String, jobID: Int64?, to: String, from: String = "+14155550100", status: String = "queued")
        async throws
    {
        try await DeliveryStore(pool: db.pool).record(
            MessageRow(
                sid: sid, jobID: jobID, accountID: accountID, channel: "sms", to: to, from: from,
                messagingServiceSID: nil, body: "Hello", segments: 1, status: status))
    }

    func status(of sid: String) async throws -> String? {
        try await db.pool.query("SELECT status FROM switchboard.all_messages WHERE sid = \(sid)").first?.decode(
            String.self, at: 0)
    }
}

/// Twilio-shaped SIDs for tests.
func sid(_ prefix: String, _ n: Int) -> String { prefix + String(format: "%032x", n) }

/// The simulator of the webhook tests' account, calls progressing every 20 ms, with `callers`
/// saying their scripted answers.
func scriptedSimulator(_ callers: [String: [SimulatorConfiguration.CallerAnswer]]) -> SimulatorConfiguration {
    var simulated = SimulatorConfiguration()
    simulated.accounts = [accountSID: authToken]
    simulated.callbackStep = .milliseconds(20)
    simulated.callers = callers
    return simulated
}

/// A Twilio client of the running `simulator`, and the sending handlers a worker uses with it,
/// asking for status callbacks at `webhookBaseURL`.
func sendingThrough(
    _ simulator: TwilioSimulator, accounts: AccountStore, pool: PostgresPool, webhookBaseURL: String
) -> (client: TwilioClient, handlers: HandlerRegistry) {
    let client = TwilioClient(configuration: .init(baseURL: simulator.baseURL!, timeout: .seconds(5)))
    let handlers = HandlerRegistry.sending(
        client: client, accounts: accounts, deliveries: DeliveryStore(pool: pool), webhookBaseURL: webhookBaseURL)
    return (client, handlers)
}
