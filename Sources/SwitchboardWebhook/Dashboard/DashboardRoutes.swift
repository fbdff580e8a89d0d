import Crypto
import Foundation
import Hummingbird
import Logging
import Postgres
import SwitchboardStore

/// `/dashboard`: served by the webhook process when a dashboard token is configured
/// (`SWITCHBOARD_DASHBOARD_TOKEN`), to browsers that give it as HTTP Basic password (any user
/// name) or as a Bearer token. Without a token configured the routes do not exist.
struct DashboardRoutes: Sendable {
    let token: String
    let pool: PostgresPool
    let logger: Logger

    func register(on router: Router<BasicRequestContext>) {
        router.get("dashboard") { request, _ in try await guarded(request) { try await overview(request) } }
        router.get("dashboard/sessions/:id") { request, context in
            try await guarded(request) {
                guard let id = context.parameters.get("id", as: Int64.self),
                    let session = try await SessionStore(pool: pool).find(id: id)
                else { return html(status: .notFound, "<!doctype html><p>No such voice session.</p>") }
                return html(DashboardPages.session(session))
            }
        }
    }

    private func overview(_ request: Request) async throws -> Response {
        let hours = min(24, max(1, request.uri.queryParameters.get("hours", as: Int.self) ?? 3))
        let operations = OperationsStore(pool: pool)
        let dashboard = DashboardStore(pool: pool)
        let page = DashboardPages.Overview(
            queue: try await operations.queueCounts(), depth: try await dashboard.depthHistory(hours: hours),
            throughput: try await dashboard.throughputHistory(hours: hours), campaigns: try await dashboard.campaigns(),
            senders: try await operations.senderLoad(), failures: try await dashboard.recentFailures(),
            sessions: try await SessionStore(pool: pool).recent(limit: 10), hours: hours)
        return html(DashboardPages.overview(page))
    }

    private func guarded(_ request: Request, _ page: () async throws -> Response) async throws -> Response {
        guard authorized(request.headers[.authorization]) else {
            return Response(
                status: .unauthorized,
                headers: [
                    .wwwAuthenticate: "Basic realm=\"Switchboard dashboard\", charset=\"UTF-8\"",
                    .contentType: "text/plain",
                ],
                body: .init(
                    byteBuffer: ByteBuffer(string: "The dashboard needs its token (as the password, any user name).\n"))
            )
        }
        return try await page()
    }

    /// Basic (the password is the token) or Bearer; compared in constant time.
    func authorized(_ header: String?) -> Bool {
        guard let header else { return false }
        var offered: String?
        if header.hasPrefix("Bearer ") {
            offered = String(header.dropFirst(7))
        } else if header.hasPrefix("Basic "), let data = Data(base64Encoded: String(header.dropFirst(6))),
            let pair = String(data: data, encoding: .utf8), let colon = pair.firstIndex(of: ":")
        {
            offered = String(pair[pair.index(after: colon)...])
        }
        guard let offered else { return false }
        return SHA256.hash(data: Data(offered.utf8)) == SHA256.hash(data: Data(token.utf8))
    }

    private func html(status: HTTPResponse.Status = .ok, _ text: String) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .init("Content-Security-Policy")!: "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'",
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
