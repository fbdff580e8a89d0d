import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A load balancer for tests: forwards each request to the next backend in turn (method, path,
/// query, headers and body as received) and counts what each backend served. Like a production
/// balancer with retries, a request a backend does not answer (refused, reset, timed out) goes to
/// the next backend; Switchboard's webhook routes are idempotent, so a replay is safe.
public final class RoundRobinProxy: Sendable {
    public let host: String
    public let port: Int
    public let backends: [String]
    private let next = Mutex(0)
    private let served: Mutex<[Int]>
    private let failovers = Mutex(0)

    public init(host: String = "127.0.0.1", port: Int, backends: [String]) {
        self.host = host
        self.port = port
        self.backends = backends
        served = Mutex(Array(repeating: 0, count: backends.count))
    }

    public var servedPerBackend: [Int] { served.withLock { $0 } }
    /// Requests a backend did not answer, which went to another backend.
    public var failoverCount: Int { failovers.withLock { $0 } }

    public func run() async throws {
        let router = Router()
        router.on("**", method: .post) { request, _ in try await self.forward(request) }
        var logger = Logger(label: "test.proxy")
        logger.logLevel = .critical  // its shutdown by cancellation logs an error
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port)), logger: logger)
        try await app.run()
    }

    private func forward(_ request: Request) async throws -> Response {
        let first = next.withLock { value in
            defer { value = (value + 1) % backends.count }
            return value
        }
        let body = try await request.body.collect(upTo: 1 << 20)
        var lastError: any Error = HTTPClientError.connectTimeout
        for offset in 0..<backends.count {
            let index = (first + offset) % backends.count
            // AsyncHTTPClient keeps retrying a refused connection until the deadline: ask first,
            // as a balancer's health check would.
            guard Self.accepts(backends[index]) else {
                failovers.withLock { $0 += 1 }
                continue
            }
            var outgoing = HTTPClientRequest(url: backends[index] + request.uri.description)
            outgoing.method = .POST
            for field in request.headers where field.name.canonicalName != "host" {
                outgoing.headers.add(name: field.name.rawName, value: field.value)
            }
            outgoing.body = .bytes(body)
            do {
                let response = try await HTTPClient.shared.execute(outgoing, timeout: .seconds(15))
                served.withLock { $0[index] += 1 }
                return try await Self.relay(response)
            } catch {
                lastError = error
                failovers.withLock { $0 += 1 }
            }
        }
        throw lastError
    }

    /// Whether something listens at `http://host:port` (a plain TCP connect on loopback).
    static func accepts(_ backend: String) -> Bool {
        guard let url = URL(string: backend), let host = url.host, let port = url.port else { return false }
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return false }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    private static func relay(_ response: HTTPClientResponse) async throws -> Response {
        let body = try await response.body.collect(upTo: 1 << 20)
        var headers = HTTPFields()
        if let type = response.headers.first(name: "Content-Type") { headers[.contentType] = type }
        return Response(
            status: .init(code: Int(response.status.code)), headers: headers, body: .init(byteBuffer: body))
    }
}
