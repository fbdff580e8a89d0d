import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SwitchboardCore
import SwitchboardStore
import TestSupport
import Testing

@testable import SwitchboardWebhook

/// The webhook's router in process (Hummingbird's test client, no socket): the signature check
/// and the dashboard token are middleware on their groups, so no route of a group can skip them.
@Suite struct RouterTests {
    static let dashboardToken = "router-test-token-0123456789"

    func withRouter(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await TestDatabase.with { db in
            let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
            var configuration = WebhookConfiguration(publicURL: "https://hooks.example.test")
            configuration.dashboardToken = Self.dashboardToken
            var logger = Logger(label: "test.router")
            logger.logLevel = .critical
            let router = buildWebhookRouter(
                configuration: configuration, pool: db.pool, accounts: AccountStore(pool: db.pool, vault: vault),
                logger: logger)
            try await Application(router: router, logger: logger).test(.router, body)
        }
    }

    @Test func everyTwilioRouteRefusesAnUnsignedRequestBeforeItsHandlerRuns() async throws {
        let paths = [
            WebhookPaths.messageStatus, WebhookPaths.callStatus, WebhookPaths.inboundMessage,
            WebhookPaths.session(1), WebhookPaths.sessionTurn(1, 1),
        ]
        try await withRouter { client in
            for path in paths {
                // A body each handler would act on (or refuse with 400) if it ran.
                let body = ByteBuffer(
                    string: "AccountSid=\(sid("AC", 1))&CallSid=\(sid("CA", 1))&MessageSid=\(sid("SM", 1))"
                        + "&MessageStatus=delivered&CallStatus=completed&From=%2B15550001&To=%2B15550002")
                try await client.execute(
                    uri: path, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: body
                ) { response in
                    #expect(response.status == .forbidden, "\(path)")
                }
            }
        }
    }

    @Test func theDashboardNeedsItsTokenOnEveryPage() async throws {
        try await withRouter { client in
            for path in ["/dashboard", "/dashboard/sessions/1"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .unauthorized, "\(path)")
                    #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
                }
                try await client.execute(
                    uri: path, method: .get, headers: [.authorization: "Bearer not-the-token-at-all"]
                ) { response in #expect(response.status == .unauthorized, "\(path)") }
            }
            let basic = "Basic " + Data("anyone:\(Self.dashboardToken)".utf8).base64EncodedString()
            try await client.execute(uri: "/dashboard", method: .get, headers: [.authorization: basic]) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("<!doctype html>"))
            }
            try await client.execute(
                uri: "/dashboard/sessions/999999", method: .get,
                headers: [.authorization: "Bearer \(Self.dashboardToken)"]
            ) { response in #expect(response.status == .notFound) }
        }
    }

    @Test func healthNeedsNothingAndUnknownPathsAre404() async throws {
        try await withRouter { client in
            try await client.execute(uri: "/health", method: .get) { response in #expect(response.status == .ok) }
            try await client.execute(uri: "/twilio/nothing/here", method: .post) { response in
                #expect(response.status == .notFound)
            }
        }
    }
}
