import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import SwitchboardCore

#if canImport(Glibc)
    import Glibc
#endif

/// How much a public-facing HTTP listener lets its clients hold: without these, idle connections,
/// half-sent headers and half-sent bodies stayed open for ever, and enough of them exhausted the
/// process's file descriptors (issue 11).
///
/// - `idleTimeout`: a connection that sends nothing, or stops in the middle of its headers, is
///   closed after this long (also between requests on a kept-alive connection). Hummingbird's idle
///   timer restarts on decoded request parts, not on bytes, so headers trickled a byte at a time
///   (slowloris) are closed then too; ConnectionLimitsTests holds it to that.
/// - `bodyTimeout`: a request's whole body must arrive within this long (a body dripping a byte
///   at a time otherwise keeps a connection busy for ever); late bodies get 408.
/// - `maxConnections`: at most this many connections are open at once; further clients wait in
///   the kernel's accept queue (and time out there) instead of costing memory and descriptors.
///   Never more than the process's descriptor limit allows, less a reserve for the database pool
///   and the process itself.
public struct ConnectionLimits: Sendable, Equatable {
    public var idleTimeout: Duration = .seconds(30)
    public var bodyTimeout: Duration = .seconds(10)
    public var maxConnections = 4096

    public init() {}

    /// Descriptors kept for everything but HTTP clients: the database pool, LISTEN connections,
    /// outbound HTTP (Twilio, the model), logs.
    public static let reservedDescriptors = 128

    public func validate() throws {
        guard idleTimeout >= .milliseconds(100) else {
            throw InputError(field: "idle-timeout", problem: "\(idleTimeout) is below 100ms")
        }
        guard bodyTimeout >= .milliseconds(100) else {
            throw InputError(field: "body-timeout", problem: "\(bodyTimeout) is below 100ms")
        }
        guard (1...1_000_000).contains(maxConnections) else {
            throw InputError(field: "max-connections", problem: "\(maxConnections) is outside 1…1000000")
        }
    }

    /// The connection cap in force: `maxConnections`, lowered to fit the descriptor limit.
    public var effectiveMaxConnections: Int {
        guard let limit = Self.descriptorLimit() else { return maxConnections }
        return max(1, min(maxConnections, limit - Self.reservedDescriptors))
    }

    /// Raises the soft descriptor limit to the hard one (as Go's runtime does), so a unit's
    /// `LimitNOFILE` is what counts; returns the limit now in force.
    @discardableResult
    public static func raiseDescriptorLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return descriptorLimit()
    }

    static func descriptorLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        // RLIM_INFINITY is all ones.
        return limit.rlim_cur == rlim_t.max ? nil : Int(clamping: limit.rlim_cur)
    }

    /// The server's settings with these limits applied.
    func applicationConfiguration(host: String, port: Int, serverName: String, logger: Logger)
        -> ApplicationConfiguration
    {
        ApplicationConfiguration(
            address: .hostname(host, port: port), serverName: serverName,
            availableConnectionsDelegate: MaximumAvailableConnections(effectiveMaxConnections, logger: logger))
    }

    var server: HTTPServerBuilder {
        .http1(configuration: .init(idleTimeout: TimeAmount(idleTimeout)))
    }

    /// HTTP/1 with these limits, plus WebSocket upgrades through `router` (ConversationRelay):
    /// frames larger than a relay message are refused, UTF-8 is checked, idle sockets pinged.
    ///
    /// hummingbird-websocket's upgrade channel starts its idle timer only once a first request
    /// head has arrived, so a client that connects and sends nothing (or trickles its headers)
    /// would hold its descriptor for ever. A deadline for that first head, from the moment the
    /// connection opens, closes such clients as the plain HTTP server does.
    func webSocketServer(router: Router<WebhookRequestContext>) -> HTTPServerBuilder {
        let responder = router.buildResponder()
        let configuration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(idleTimeout: TimeAmount(idleTimeout)),
            ws: .init(maxFrameSize: ConversationRelay.maxMessageBytes, validateUTF8: true))
        let firstHeadWithin = TimeAmount(idleTimeout)
        return HTTPServerBuilder { httpResponder in
            FirstHeadDeadlineChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: httpResponder, webSocketResponder: responder, configuration: configuration),
                deadline: firstHeadWithin)
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension Request {
    /// The body, up to `limit` bytes, within `timeout`: 413 when larger, 408 when slower.
    func collectBody(upTo limit: Int, within timeout: Duration) async throws -> ByteBuffer {
        let body = self.body
        return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                do { return try await body.collect(upTo: limit) } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    throw HTTPError(.contentTooLarge, message: "request body over \(limit) bytes")
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let buffer = first else {
                throw HTTPError(.requestTimeout, message: "the request body did not arrive within \(timeout)")
            }
            return buffer
        }
    }
}

/// A server channel whose first request head must arrive within `deadline` of the connection
/// opening (see `webSocketServer(router:)`); what happens after is the inner channel's business.
struct FirstHeadDeadlineChannel<Inner: ServerChildChannel>: ServerChildChannel {
    let inner: Inner
    let deadline: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Inner.Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
                FirstHeadDeadlineHandler(deadline: deadline), position: .first)
        }.flatMap { inner.setup(channel: channel, logger: logger) }
    }

    func handle(value: Inner.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// Closes the connection unless the bytes it reads contain the end of a request head
/// (`CRLF CRLF`) within the deadline; then it steps aside. Trickling bytes does not extend it.
final class FirstHeadDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let deadline: TimeAmount
    private var timer: Scheduled<Void>?
    /// The last bytes read, so a `CRLF CRLF` split across reads is still seen.
    private var tail: [UInt8] = []

    init(deadline: TimeAmount) {
        self.deadline = deadline
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: deadline) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if timer != nil {
            tail.append(contentsOf: buffer.readableBytesView)
            if Self.containsEndOfHead(tail) {
                timer?.cancel()
                timer = nil
                context.fireChannelRead(data)
                context.pipeline.syncOperations.removeHandler(self, promise: nil)
                return
            }
            tail = Array(tail.suffix(3))
        }
        context.fireChannelRead(data)
    }

    static func containsEndOfHead(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 4 else { return false }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return true
        }
        return false
    }
}
