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

    func register(on router: Router<WebhookRequestContext>) {
        let dashboard = router.group("dashboard").add(middleware: DashboardTokenMiddleware(token: token))
        dashboard.get { request, _ in try await overview(request) }
        dashboard.get("sessions/:id") { _, context in
            guard let id = context.parameters.get("id", as: Int64.self),
                let session = try await SessionStore(pool: pool).find(id: id)
            else { return html(status: .notFound, "<!doctype html><p>No such voice session.</p>") }
            return html(DashboardPages.session(session))
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
