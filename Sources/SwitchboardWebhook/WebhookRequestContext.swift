import Crypto
import Foundation
import Hummingbird
import HummingbirdWebSocket
import SwitchboardCore

/// The webhook router's request context: what the middleware established about a request. The
/// same router answers WebSocket upgrades (ConversationRelay), so the upgrade request goes
/// through the same middleware, signature check included.
public struct WebhookRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<WebhookRequestContext>
    /// Set by `TwilioSignatureMiddleware` for every route of the `/twilio` group.
    var webhook: VerifiedWebhook?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        webhook = nil
    }

    /// The verified Twilio request. Only routes of the `/twilio` group have one; a handler that
    /// asks elsewhere is a programming error, answered 500 rather than trusted.
    func verified() throws -> VerifiedWebhook {
        guard let webhook else {
            throw HTTPError(.internalServerError, message: "route is not behind the signature check")
        }
        return webhook
    }

    /// A path parameter that names a row (a session, a turn): a non-negative integer, else 404.
    func id(_ name: String) throws -> Int64 {
        guard let text = parameters.get(name), let value = Int64(text), value >= 0 else {
            throw HTTPError(.notFound)
        }
        return value
    }
}

/// Checks `X-Twilio-Signature` (and the request's shape and size) before any route of the group
/// it is added to runs, and hands the verified form to the handler: a route added to the group
/// cannot forget the check.
struct TwilioSignatureMiddleware: RouterMiddleware {
    let verifier: WebhookVerifier

    func handle(
        _ request: Request, context: WebhookRequestContext,
        next: (Request, WebhookRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.webhook = try await verifier.verify(request)
        return try await next(request, context)
    }
}

/// The dashboard's token, as HTTP Basic password (any user name) or Bearer token, compared in
/// constant time; without it every route of the group answers 401.
struct DashboardTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
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
        return try await next(request, context)
    }

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
}

extension WebhookPaths {
    /// The group every Twilio route is in, behind `TwilioSignatureMiddleware`.
    static let twilioGroup = "twilio"

    /// `path` (one of the full paths above) as a route of the `/twilio` group.
    static func inTwilioGroup(_ path: String) -> RouterPath {
        precondition(path.hasPrefix("/\(twilioGroup)/"), "\(path) is not a Twilio route")
        return RouterPath(stringLiteral: String(path.dropFirst(twilioGroup.count + 2)))
    }
}
