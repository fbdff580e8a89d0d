import AsyncHTTPClient
import Foundation
import InMemoryLogging
import Logging
import NIOCore
import Postgres
import SwitchboardProcesses
import SwitchboardStore
import SwitchboardWebhook
import TestSupport
import Twilio

let accountSID = "AC" + String(repeating: "5eb0", count: 8)
let authToken = "webhook-test-auth-token-0001"

/// A migrated database with an account "main", and a webhook process (as `switchboard webhook`
/// runs it) serving it on loopback.
struct WebhookHarness {
    let db: TestDatabase
    let vault: CredentialVault
    let accountID: Int64
    /// Where requests are sent.
    let address: String
    /// What Twilio would sign (the public URL, e.g. a proxy's).
    let publicURL: String
    var accounts: AccountStore { AccountStore(pool: db.pool, vault: vault) }

    /// `publicURL` nil: the server's own loopback address.
    static func with<T: Sendable>(
        publicURL: String? = nil, maxBodyBytes: Int? = nil, llm: LLMConfiguration? = nil, dashboardToken: String? = nil,
        logs: InMemoryLogHandler? = nil, sessionSweepInterval: Duration? = nil,
        _ body: (WebhookHarness) async throws -> T
    ) async throws -> T {
        try await TestDatabase.with { db in
            let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
            let accounts = AccountStore(pool: db.pool, vault: vault)
            let accountID = try await accounts.upsert(name: "main", accountSID: accountSID, secret: authToken)
            let port = try freeLoopbackPort()
            let address = "http://127.0.0.1:\(port)"
            var configuration = WebhookConfiguration(publicURL: publicURL ?? address)
            configuration.port = port
            if let maxBodyBytes { configuration.maxBodyBytes = maxBodyBytes }
            if let llm { configuration.llm = llm }
            configuration.dashboardToken = dashboardToken
            if let sessionSweepInterval { configuration.sessionSweepInterval = sessionSweepInterval }
            var logger =
                logs.map { handler in Logger(label: "test.webhook", factory: { _ in handler }) }
                ?? Logger(label: "test.webhook")
            logger.logLevel = .warning
            let process = try WebhookProcess(
                configuration: configuration, pool: db.pool, accounts: accounts, logger: logger)
            let running = ServiceTask(group: process.serviceGroup())
            defer { running.stop() }
            guard await eventually(timeout: .seconds(10), { process.port != nil }) else {
                throw HarnessError(description: "the webhook server did not start")
            }
            return try await body(
                WebhookHarness(
                    db: db, vault: vault, accountID: accountID, address: address,
                    publicURL: configuration.publicURL))
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
        var request = HTTPClientRequest(url: address + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        if sign {
            request.headers.add(
                name: "X-Twilio-Signature",
                value: signature
                    ?? TwilioSignature.compute(
                        url: signedURL ?? (publicURL + path), parameters: parameters, authToken: token))
        }
        request.body = .bytes(ByteBuffer(string: rawBody ?? parameters.encoded))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Answer(status: Int(response.status.code), body: String(buffer: body))
    }

    func get(_ path: String, authorization: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: address + path)
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Answer(status: Int(response.status.code), body: String(buffer: body))
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
        try await db.pool.query("SELECT status FROM switchboard.messages WHERE sid = \(sid)").first?.decode(
            String.self, at: 0)
    }
}

/// Twilio-shaped SIDs for tests.
func sid(_ prefix: String, _ n: Int) -> String { prefix + String(format: "%032x", n) }
