import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SwitchboardCore
import Synchronization

/// An OpenAI-compatible chat-completions server for `bench relay`: every `stream: true` request
/// is answered, after a fixed time to first token, with `tokens` tokens at `tokensPerSecond`
/// as server-sent events, like a hosted model. It records when each request arrived and when its
/// first token was written, keyed by the request's last user message, and counts the streams a
/// client abandoned (the webhook cancelling an interrupted answer).
final class StreamingModel: Service, Sendable {
    let port: Int
    let timeToFirstToken: Duration
    let tokensPerSecond: Double
    let tokens: Int

    struct Timing: Sendable {
        var received: ContinuousClock.Instant
        var firstToken: ContinuousClock.Instant?
    }

    private struct State {
        var timings: [String: Timing] = [:]
        var open = 0
        var abandoned = 0
    }
    private let state = Mutex(State())

    init(port: Int, timeToFirstToken: Duration, tokensPerSecond: Double, tokens: Int) {
        self.port = port
        self.timeToFirstToken = timeToFirstToken
        self.tokensPerSecond = tokensPerSecond
        self.tokens = tokens
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var openStreams: Int { state.withLock { $0.open } }
    var abandonedStreams: Int { state.withLock { $0.abandoned } }
    func timing(_ key: String) -> Timing? { state.withLock { $0.timings[key] } }
    func reset() { state.withLock { $0 = State() } }

    func run() async throws {
        let router = Router()
        router.post("chat/completions") { request, _ in try await self.answer(request) }
        var logger = Logger(label: "bench.model")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        try await app.run()
    }

    /// The tokens of the answer to `key`: " {key}·{n}", so a client can tell whose they are.
    static func token(_ key: String, _ index: Int) -> String { " \(key)·\(index)" }

    private func answer(_ request: Request) async throws -> Response {
        let received = ContinuousClock.now
        let body = try await request.body.collect(upTo: 1 << 20)
        let json = try JSONDecoder().decode(JSONValue.self, from: Data(buffer: body))
        var lastUserMessage = ""
        if case .array(let messages)? = json["messages"] {
            lastUserMessage = messages.last(where: { $0["role"] == .string("user") })?["content"]?.stringValue ?? ""
        }
        let key = lastUserMessage
        state.withLock { $0.timings[key] = Timing(received: received) }
        let interval = Duration.seconds(1 / tokensPerSecond)
        let (firstAt, count) = (received + timeToFirstToken, tokens)
        let response = ResponseBody { [self] writer in
            state.withLock { $0.open += 1 }
            defer { state.withLock { $0.open -= 1 } }
            do {
                for index in 0..<count {
                    try await Task.sleep(until: firstAt + interval * index)
                    // Noted before the write, so a client that reads the token finds it noted.
                    if index == 0 { state.withLock { $0.timings[key]?.firstToken = .now } }
                    try await writer.write(Self.event(["content": .string(Self.token(key, index))]))
                }
                try await writer.write(Self.event([:], usage: count))
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            } catch {
                state.withLock { $0.abandoned += 1 }
                throw error
            }
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: response)
    }

    private static func event(_ delta: [String: JSONValue], usage: Int? = nil) -> ByteBuffer {
        let chunk: JSONValue = .object([
            "id": .string("chatcmpl-bench"), "object": .string("chat.completion.chunk"), "model": .string("bench"),
            "choices": .array(delta.isEmpty ? [] : [.object(["index": .int(0), "delta": .object(delta)])]),
            "usage": usage.map {
                .object(["prompt_tokens": .int(20), "completion_tokens": .int(Int64($0))])
            } ?? .null,
        ])
        return ByteBuffer(string: "data: \(chunk.jsonText)\n\n")
    }
}
