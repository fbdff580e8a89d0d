import AsyncHTTPClient
import Hummingbird
import HummingbirdWSClient
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A load balancer for tests: forwards each request to the next backend in turn (method, path,
/// query, headers and body as received) and counts what each backend served. Like a production
/// balancer with retries, a request a backend does not answer (refused, reset, timed out) goes to
/// the next backend; Switchboard's webhook routes are idempotent, so a replay is safe.
/// WebSockets are proxied message by message to the next backend in turn (its upgrade request's
/// path, query and signature as received); when the backend's socket ends, so does the client's,
/// as with nginx.
public final class RoundRobinProxy: Service, Sendable {
    public let host: String
    public let port: Int
    public let backends: [String]
    private let next = Mutex(0)
    private let served: Mutex<[Int]>
    private let failovers = Mutex(0)
    private let sockets: Mutex<[Int]>
    /// Its own client: a refused connection fails at once instead of being retried until the
    /// deadline (AsyncHTTPClient's default), so a dead backend costs no time.
    private let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        // Like nginx's upstreams: as many connections as the load needs, not AsyncHTTPClient's eight.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public init(host: String = "127.0.0.1", port: Int, backends: [String]) {
        self.host = host
        self.port = port
        self.backends = backends
        served = Mutex(Array(repeating: 0, count: backends.count))
        sockets = Mutex(Array(repeating: 0, count: backends.count))
    }

    /// WebSockets open through the proxy, by backend.
    public var liveSocketsPerBackend: [Int] { sockets.withLock { $0 } }

    public var servedPerBackend: [Int] { served.withLock { $0 } }
    /// Requests a backend did not answer, which went to another backend.
    public var failoverCount: Int { failovers.withLock { $0 } }

    public func run() async throws {
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.on("**", method: .post) { request, _ in try await self.forward(request) }
        var logger = Logger(label: "test.proxy")
        logger.logLevel = .critical  // its shutdown by cancellation logs an error
        router.ws("**") { [logger] inbound, outbound, context in
            try await self.pipe(inbound, outbound, request: context.request, logger: logger)
        }
        let app = Application(
            router: router, server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname(host, port: port)), logger: logger)
        do {
            try await app.run()
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
    }

    private func nextBackend() -> Int {
        next.withLock { value in
            defer { value = (value + 1) % backends.count }
            return value
        }
    }

    /// Connects to the next backend that accepts the socket and relays messages both ways until
    /// either side ends.
    private func pipe(
        _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, request: Request, logger: Logger
    ) async throws {
        let first = nextBackend()
        let maxSize = 1 << 20
        for offset in 0..<backends.count {
            let index = (first + offset) % backends.count
            let url = "ws" + backends[index].dropFirst("http".count) + request.uri.description
            var configuration = WebSocketClientConfiguration(maxFrameSize: maxSize)
            for field in request.headers where field.name.canonicalName.hasPrefix("x-") {
                configuration.additionalHeaders[field.name] = field.value
            }
            let connected = Mutex(false)
            do {
                try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) {
                    backendInbound, backendOutbound, _ in
                    connected.withLock { $0 = true }
                    self.served.withLock { $0[index] += 1 }
                    self.sockets.withLock { $0[index] += 1 }
                    defer { self.sockets.withLock { $0[index] -= 1 } }
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await message in inbound.messages(maxSize: maxSize) {
                                try await backendOutbound.write(Self.frame(message))
                            }
                        }
                        defer { group.cancelAll() }
                        for try await message in backendInbound.messages(maxSize: maxSize) {
                            try await outbound.write(Self.frame(message))
                        }
                    }
                }
                return
            } catch {
                // A backend that died mid-call ends the client's socket; one that never answered
                // is skipped.
                if connected.withLock({ $0 }) { return }
                failovers.withLock { $0 += 1 }
            }
        }
    }

    private static func frame(_ message: WebSocketMessage) -> WebSocketOutboundWriter.OutboundFrame {
        switch message {
        case .text(let text): .text(text)
        case .binary(let bytes): .binary(bytes)
        }
    }

    private func forward(_ request: Request) async throws -> Response {
        let first = nextBackend()
        let body = try await request.body.collect(upTo: 1 << 20)
        var lastError: any Error = HTTPClientError.connectTimeout
        for offset in 0..<backends.count {
            let index = (first + offset) % backends.count
            var outgoing = HTTPClientRequest(url: backends[index] + request.uri.description)
            outgoing.method = .POST
            for field in request.headers where field.name.canonicalName != "host" {
                outgoing.headers.add(name: field.name.rawName, value: field.value)
            }
            outgoing.body = .bytes(body)
            do {
                let response = try await client.execute(outgoing, timeout: .seconds(15))
                served.withLock { $0[index] += 1 }
                return try await Self.relay(response)
            } catch {
                lastError = error
                failovers.withLock { $0 += 1 }
            }
        }
        throw lastError
    }

    private static func relay(_ response: HTTPClientResponse) async throws -> Response {
        let body = try await response.body.collect(upTo: 1 << 20)
        var headers = HTTPFields()
        if let type = response.headers.first(name: "Content-Type") { headers[.contentType] = type }
        return Response(
            status: .init(code: Int(response.status.code)), headers: headers, body: .init(byteBuffer: body))
    }
}
