import AsyncAlgorithms
import Foundation
import Hummingbird
import Logging
import Postgres
import SwitchboardCore
import SwitchboardStore

/// `/dashboard`: served by the webhook process when a dashboard token is configured
/// (`SWITCHBOARD_DASHBOARD_TOKEN`), to browsers that give it as HTTP Basic password (any user
/// name) or as a Bearer token. Without a token configured the routes do not exist.
struct DashboardRoutes: Sendable {
    let token: String
    let pool: PostgresPool
    let relays: RelayDrain
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
        dashboard.get("campaigns/:id") { _, context in
            guard let id = context.parameters.get("id", as: Int64.self),
                let report = try await CampaignReportStore(pool: pool).report(campaignID: id)
            else { return html(status: .notFound, "<!doctype html><p>No such campaign.</p>") }
            return html(DashboardPages.campaign(report, id: id))
        }
        dashboard.get("campaigns/:id/recipients.csv") { _, context in
            guard let id = context.parameters.get("id", as: Int64.self),
                try await CampaignStore(pool: pool).state(id: id) != nil
            else { return html(status: .notFound, "<!doctype html><p>No such campaign.</p>") }
            return recipients(campaignID: id)
        }
        dashboard.get("sessions/:id/live") { _, context in
            guard let id = context.parameters.get("id", as: Int64.self),
                let session = try await SessionStore(pool: pool).find(id: id)
            else { return html(status: .notFound, "<!doctype html><p>No such voice session.</p>") }
            return live(session)
        }
    }

    /// Every recipient's outcome as CSV, streamed: the cursor is read only as fast as the browser
    /// takes the rows (a channel without a buffer between them), and stops when it leaves.
    private func recipients(campaignID id: Int64) -> Response {
        let store = CampaignReportStore(pool: pool)
        let body = ResponseBody { writer in
            let batches = AsyncThrowingChannel<String, any Error>()
            let producer = Task {
                do {
                    try await store.recipientsCSV(campaignID: id) { text in
                        try Task.checkCancellation()
                        await batches.send(text)
                    }
                    batches.finish()
                } catch {
                    batches.fail(error)
                }
            }
            defer { producer.cancel() }
            for try await text in batches { try await writer.write(ByteBuffer(string: text)) }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/csv; charset=utf-8", .cacheControl: "no-store",
                .contentDisposition: "attachment; filename=\"campaign-\(id)-recipients.csv\"",
            ], body: body)
    }

    /// How often the live page looks for new lines, and writes something to keep the connection.
    static let livePoll: Duration = .milliseconds(500)
    static let liveHeartbeat: Duration = .seconds(10)

    /// A session's transcript as one HTML response that grows while the call goes on: the page so
    /// far at once, then each new line as it is stored, the outcome when the session ends. No
    /// script: browsers render streamed HTML as it arrives. It ends with the call, the session's
    /// time limit, the viewer leaving, or this host draining.
    private func live(_ first: VoiceSession) -> Response {
        let sessions = SessionStore(pool: pool)
        let body = ResponseBody { writer in
            var follower = TranscriptFollower()
            var session = first
            try await writer.write(ByteBuffer(string: DashboardPages.liveHead(session)))
            let until = ContinuousClock.now + .seconds(max(60, session.spec.timeLimit + 60))
            var lastWrite = ContinuousClock.now
            while true {
                var chunk = DashboardPages.live(follower.update(session.state?.spokenLines ?? []))
                if session.status == .ended || ContinuousClock.now > until || relays.isDraining {
                    chunk += DashboardPages.liveEnd(session)
                    try await writer.write(ByteBuffer(string: chunk))
                    break
                }
                if chunk.isEmpty, ContinuousClock.now - lastWrite > Self.liveHeartbeat { chunk = "\n" }
                if !chunk.isEmpty {
                    try await writer.write(ByteBuffer(string: chunk))
                    lastWrite = .now
                }
                try await Task.sleep(for: Self.livePoll)
                guard let next = try await sessions.session(id: session.id) else { break }
                session = next
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: Self.headers, body: body)
    }

    private func overview(_ request: Request) async throws -> Response {
        let hours = min(24, max(1, request.uri.queryParameters.get("hours", as: Int.self) ?? 3))
        let operations = OperationsStore(pool: pool)
        let dashboard = DashboardStore(pool: pool)
        let carriers = CarrierStore(pool: pool)
        let events = EventStore(pool: pool, vault: nil)
        let page = DashboardPages.Overview(
            queue: try await operations.queueCounts(), depth: try await dashboard.depthHistory(hours: hours),
            throughput: try await dashboard.throughputHistory(hours: hours), campaigns: try await dashboard.campaigns(),
            senders: try await operations.senderLoad(), carrierBudgets: try await carriers.budgets(),
            carrierHeld: try await carriers.held(), failures: try await dashboard.recentFailures(),
            sessions: try await SessionStore(pool: pool).recent(limit: 10),
            live: try await SessionStore(pool: pool).live(limit: 20),
            eventSubscriptions: try await events.subscriptions(),
            eventProblems: try await events.deliveries(state: .pending, limit: 10)
                + (try await events.deliveries(state: .failed, limit: 10)), hours: hours)
        return html(DashboardPages.overview(page))
    }

    static let headers: HTTPFields = [
        .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
        .init("Content-Security-Policy")!: "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'",
        // Tells nginx not to hold the live page back.
        .init("X-Accel-Buffering")!: "no",
    ]

    private func html(status: HTTPResponse.Status = .ok, _ text: String) -> Response {
        Response(status: status, headers: Self.headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
