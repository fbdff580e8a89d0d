import Hummingbird
import Logging
import Postgres
import SwitchboardCore
import SwitchboardStore
import Synchronization

/// `GET /l/{code}` (and `HEAD`): a tracked link. A well-formed code with a valid MAC redirects
/// (302) to the campaign's URL and records the click — people's apart from link previews and
/// crawlers, told by their User-Agent (a `HEAD` is always a preview) — in one statement that
/// reads the link by its id. Anything else is a plain 404; an expired link is 410. No state is
/// kept in the process but the key, read once.
final class LinkRoutes: Sendable {
    let links: LinkStore
    let logger: Logger
    private let key = Mutex<LinkKey?>(nil)

    init(pool: PostgresPool, logger: Logger) {
        links = LinkStore(pool: pool)
        self.logger = logger
    }

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get(RouterPath(stringLiteral: WebhookPaths.links + "/:code")) { request, context in
            try await self.follow(request, context, preview: false)
        }
        router.head(RouterPath(stringLiteral: WebhookPaths.links + "/:code")) { request, context in
            try await self.follow(request, context, preview: true)
        }
    }

    private func follow<Context: RequestContext>(_ request: Request, _ context: Context, preview: Bool) async throws
        -> Response
    {
        let code = context.parameters.get("code") ?? ""
        guard let target = TrackedLink.target(of: code, key: try await signingKey()) else {
            return Self.page(.notFound, "This link is not valid.")
        }
        let agent = request.headers[.userAgent]
        switch try await links.follow(
            target, bot: preview || TrackedLink.isBot(userAgent: agent), userAgent: agent)
        {
        case .redirect(let url):
            return Response(
                status: .found,
                headers: [.location: url, .cacheControl: "no-store", .init("Referrer-Policy")!: "no-referrer"])
        case .expired:
            return Self.page(.gone, "This link has expired.")
        case .unknown:
            return Self.page(.notFound, "This link is not valid.")
        }
    }

    private func signingKey() async throws -> LinkKey {
        if let key = key.withLock({ $0 }) { return key }
        let loaded = try await links.key()
        key.withLock { $0 = loaded }
        return loaded
    }

    static func page(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }
}
