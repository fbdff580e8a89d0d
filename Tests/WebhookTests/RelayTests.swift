import Foundation
import HummingbirdWSClient
import Logging
import SwitchboardCore
import SwitchboardStore
import TestSupport
import Testing
import Twilio

/// The ConversationRelay socket (issue 12, in progress), over a real WebSocket on loopback: the
/// upgrade is signed or refused before a socket exists, and Twilio's messages are read leniently.
@Suite struct RelayTests {
    func session(_ hooks: WebhookHarness, accountID: Int64? = nil) async throws -> Int64 {
        let questions = try JSONDecoder().decode(JSONValue.self, from: Data(ExampleFlows.survey.utf8))
        let spec = try VoiceAgentRequest(
            account: "main", to: "+15550001234", from: "+15557654321", questions: questions
        ).resolve()
        let job = try await hooks.db.store.enqueue(NewJob(kind: "noop")).id
        return try await SessionStore(pool: hooks.db.pool).open(
            jobID: job, accountID: accountID ?? hooks.accountID, spec: spec)
    }

    /// Connects as Twilio does: the `ws://` form of the public URL, signed with `token` (no
    /// signature header when nil); runs `body` on the open socket.
    func connect(
        _ hooks: WebhookHarness, session: Int64, token: String? = authToken,
        _ body: @escaping @Sendable (WebSocketOutboundWriter) async throws -> Void = { _ in }
    ) async throws {
        let path = WebhookPaths.relay(session) + "?AccountSid=\(accountSID)"
        let url = "ws" + hooks.address.dropFirst("http".count) + path
        var configuration = WebSocketClientConfiguration()
        if let token {
            let signature = TwilioSignature.compute(url: url, parameters: FormParameters(), authToken: token)
            configuration.additionalHeaders[.init("X-Twilio-Signature")!] = signature
        }
        var logger = Logger(label: "test.relay")
        logger.logLevel = .critical
        try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) { _, outbound, _ in
            try await body(outbound)
            try await outbound.close(.normalClosure, reason: nil)
        }
    }

    static let setup =
        #"{"type":"setup","sessionId":"VX1","callSid":"CA00000000000000000000000000000042","from":"+15557654321","#
        + #""to":"+15550001234","direction":"outbound-api","customParameters":{}}"#

    @Test func aSignedUpgradeOpensTheSocketAndSetupBindsTheCall() async throws {
        try await WebhookHarness.with(.live) { (hooks: WebhookHarness) async throws in
            let id = try await session(hooks)
            try await connect(hooks, session: id) { outbound in
                // Hostile or unknown input first: ignored, the socket stays usable.
                try await outbound.write(.text("not json"))
                try await outbound.write(.text(#"{"type":"info","name":"roundTripDelay","value":"120"}"#))
                try await outbound.write(.text(Self.setup))
            }
            let store = SessionStore(pool: hooks.db.pool)
            #expect(
                await eventually(timeout: .seconds(10)) {
                    try await store.session(id: id)?.callSID == "CA00000000000000000000000000000042"
                })
        }
    }

    @Test func anUnsignedOrWronglySignedUpgradeIsRefusedBeforeASocketExists() async throws {
        try await WebhookHarness.with(.live) { (hooks: WebhookHarness) async throws in
            let id = try await session(hooks)
            for token in [nil, "not-the-auth-token"] as [String?] {
                await #expect(throws: (any Error).self, "token \(token ?? "none")") {
                    try await connect(hooks, session: id, token: token) { outbound in
                        try await outbound.write(.text(Self.setup))
                    }
                }
            }
            #expect(try await SessionStore(pool: hooks.db.pool).session(id: id)?.callSID == nil)
            // The same request as plain HTTP gets the signature check's answer.
            #expect(try await hooks.get(WebhookPaths.relay(id) + "?AccountSid=\(accountSID)").status == 403)
        }
    }

    @Test func anotherAccountsOrAMissingSessionIsNotUpgraded() async throws {
        try await WebhookHarness.with(.live) { (hooks: WebhookHarness) async throws in
            let otherSID = "AC" + String(repeating: "0e", count: 16)
            let other = try await hooks.accounts.upsert(
                name: "other", accountSID: otherSID, secret: "other-account-auth-token-0001")
            let theirs = try await session(hooks, accountID: other)
            for id in [theirs, 999_999] {
                await #expect(throws: (any Error).self, "session \(id)") {
                    try await connect(hooks, session: id) { outbound in try await outbound.write(.text(Self.setup)) }
                }
            }
            #expect(try await SessionStore(pool: hooks.db.pool).session(id: theirs)?.callSID == nil)
        }
    }
}
