import AsyncHTTPClient
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A load balancer for tests: forwards each request to the next backend in turn (method, path,
/// query, headers and body as received) and counts what each backend served.
public final class RoundRobinProxy: Sendable {
    public let port: Int
    public let backends: [String]
    private let next = Mutex(0)
    private let served: Mutex<[Int]>

    public init(port: Int, backends: [String]) {
        self.port = port
        self.backends = backends
        served = Mutex(Array(repeating: 0, count: backends.count))
    }

    public var servedPerBackend: [Int] { served.withLock { $0 } }

    public func run() async throws {
        let router = Router()
        router.on("**", method: .post) { request, _ in try await self.forward(request) }
        var logger = Logger(label: "test.proxy")
        logger.logLevel = .warning
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        try await app.run()
    }

    private func forward(_ request: Request) async throws -> Response {
        let index = next.withLock { value in
            defer { value = (value + 1) % backends.count }
            return value
        }
        var outgoing = HTTPClientRequest(url: backends[index] + request.uri.description)
        outgoing.method = .POST
        for field in request.headers where field.name.canonicalName != "host" {
            outgoing.headers.add(name: field.name.rawName, value: field.value)
        }
        outgoing.body = .bytes(try await request.body.collect(upTo: 1 << 20))
        let response = try await HTTPClient.shared.execute(outgoing, timeout: .seconds(15))
        served.withLock { $0[index] += 1 }
        let body = try await response.body.collect(upTo: 1 << 20)
        var headers = HTTPFields()
        if let type = response.headers.first(name: "Content-Type") { headers[.contentType] = type }
        return Response(
            status: .init(code: Int(response.status.code)), headers: headers, body: .init(byteBuffer: body))
    }
}
