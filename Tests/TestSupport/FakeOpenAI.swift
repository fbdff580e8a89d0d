import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import ServiceTask
import SwitchboardCore
import Synchronization

/// An OpenAI-compatible chat-completions server for tests (the real API is unreachable here): it
/// checks the bearer key and the request's shape as the documented protocol has them, answers
/// with scripted replies, and records every request.
public final class FakeOpenAI: Service, Sendable {
    public enum Reply: Sendable {
        case text(String)
        /// An error status with OpenAI's error body (429 rate limit, 500…).
        case status(Int)
        /// Answers, but only after this long.
        case delayed(Duration, String)
        /// For `stream: true` requests: these tokens as server-sent events, then usage and
        /// `[DONE]`. With a gate, only the first token is sent until the gate opens, so a test can
        /// tell a streamed answer from a buffered one without measuring time; after it, tokens
        /// come 10 ms apart, as a model generates them, so a client that went away is noticed
        /// when the writes start failing.
        case streamed([String], gate: StreamGate? = nil)
    }

    /// Holds a streamed answer after its first token until `open()`.
    public typealias StreamGate = Gate

    public let port: Int
    public let apiKey: String
    /// (the last user message, the 1-based number of this request) → the reply.
    let respond: @Sendable (String, Int) -> Reply
    private let recorded = Mutex<[[String: JSONValue]]>([])
    private let abandoned = Mutex(0)
    private let listening = Mutex(false)

    public init(port: Int, apiKey: String, respond: @escaping @Sendable (String, Int) -> Reply) {
        self.port = port
        self.apiKey = apiKey
        self.respond = respond
    }

    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }
    /// The JSON bodies received with a valid key, in order.
    public var requests: [[String: JSONValue]] { recorded.withLock { $0 } }
    /// Streamed answers whose client went away before the end (their writes failed).
    public var abandonedStreams: Int { abandoned.withLock { $0 } }

    /// Starts it and returns once it listens: a request sent sooner would be refused, and a
    /// refused model request is a failed turn (the fallback), not a test of what it meant to test.
    public func start() async throws -> ServiceTask {
        let task = ServiceTask(self, logger: testLogger("test.openai"))
        guard await eventually(timeout: .seconds(20), { self.listening.withLock { $0 } }) else {
            task.stop()
            throw StartFailure(description: "the fake OpenAI server did not start on port \(port)")
        }
        return task
    }

    struct StartFailure: Error, CustomStringConvertible { var description: String }

    public func run() async throws {
        let router = Router()
        router.post("v1/chat/completions") { request, _ in try await self.complete(request) }
        var logger = Logger(label: "test.openai")
        logger.logLevel = .warning
        try await Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { _ in self.listening.withLock { $0 = true } }, logger: logger
        ).run()
    }

    private func complete(_ request: Request) async throws -> Response {
        guard request.headers[.authorization] == "Bearer \(apiKey)" else {
            return Self.error(
                401, "Incorrect API key provided.", type: "invalid_request_error", code: "invalid_api_key")
        }
        let body = try await request.body.collect(upTo: 1 << 20)
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(buffer: body)),
            case .object(let object) = value, case .string(let model)? = object["model"],
            case .array(let messages)? = object["messages"], !messages.isEmpty,
            messages.allSatisfy({ $0["role"]?.stringValue != nil && $0["content"]?.stringValue != nil })
        else {
            return Self.error(400, "model and messages (role, content) are required", type: "invalid_request_error")
        }
        let number = recorded.withLock { list in
            list.append(object)
            return list.count
        }
        let lastUser = messages.last(where: { $0["role"] == .string("user") })?["content"]?.stringValue ?? ""
        let text: String
        let streaming = object["stream"] == .bool(true)
        switch respond(lastUser, number) {
        case .streamed(let tokens, let gate):
            guard streaming else {
                return Self.error(400, "this reply is streamed only", type: "invalid_request_error")
            }
            return streamedAnswer(tokens, gate: gate, model: model, number: number)
        case .status(let status):
            return Self.error(
                status, status == 429 ? "Rate limit reached" : "The server had an error", type: "server_error")
        case .delayed(let delay, let reply):
            try await Task.sleep(for: delay)
            text = reply
        case .text(let reply):
            text = reply
        }
        if streaming {
            // A streaming client gets the reply word by word, as a model sends it.
            var tokens: [String] = []
            for (index, word) in text.split(separator: " ", omittingEmptySubsequences: false).enumerated() {
                tokens.append(index == 0 ? String(word) : " " + word)
            }
            return streamedAnswer(tokens, gate: nil, model: model, number: number)
        }
        let promptTokens = messages.compactMap { $0["content"]?.stringValue }.reduce(0) { $0 + $1.count / 4 + 4 }
        let completionTokens = max(1, text.count / 4)
        let answer: JSONValue = .object([
            "id": .string("chatcmpl-\(number)"), "object": .string("chat.completion"), "created": .int(1_700_000_000),
            "model": .string(model),
            "choices": .array([
                .object([
                    "index": .int(0), "message": .object(["role": .string("assistant"), "content": .string(text)]),
                    "finish_reason": .string("stop"),
                ])
            ]),
            "usage": .object([
                "prompt_tokens": .int(Int64(promptTokens)), "completion_tokens": .int(Int64(completionTokens)),
                "total_tokens": .int(Int64(promptTokens + completionTokens)),
            ]),
        ])
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: answer.jsonText)))
    }

    private func streamedAnswer(_ tokens: [String], gate: StreamGate?, model: String, number: Int) -> Response {
        @Sendable func event(_ value: JSONValue) -> ByteBuffer { ByteBuffer(string: "data: \(value.jsonText)\n\n") }
        @Sendable func chunk(_ delta: [String: JSONValue], usage: JSONValue = .null) -> JSONValue {
            .object([
                "id": .string("chatcmpl-\(number)"), "object": .string("chat.completion.chunk"),
                "created": .int(1_700_000_000), "model": .string(model),
                "choices": .array(delta.isEmpty ? [] : [.object(["index": .int(0), "delta": .object(delta)])]),
                "usage": usage,
            ])
        }
        let body = ResponseBody { [self] writer in
            do {
                try await writer.write(event(chunk(["role": .string("assistant"), "content": .string("")])))
                for (index, token) in tokens.enumerated() {
                    try await writer.write(event(chunk(["content": .string(token)])))
                    if let gate {
                        if index == 0 { await gate.wait() } else { try await Task.sleep(for: .milliseconds(10)) }
                    }
                }
                let usage: JSONValue = .object([
                    "prompt_tokens": .int(10), "completion_tokens": .int(Int64(tokens.count)),
                    "total_tokens": .int(Int64(10 + tokens.count)),
                ])
                try await writer.write(event(chunk([:], usage: usage)))
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            } catch {
                self.abandoned.withLock { $0 += 1 }
                throw error
            }
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: body)
    }

    static func error(_ status: Int, _ message: String, type: String, code: String? = nil) -> Response {
        let body: JSONValue = .object([
            "error": .object([
                "message": .string(message), "type": .string(type), "param": .null,
                "code": code.map { .string($0) } ?? .null,
            ])
        ])
        return Response(
            status: .init(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: body.jsonText)))
    }
}
