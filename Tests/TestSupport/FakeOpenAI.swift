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
        /// Function calling (non-streamed requests): the model asks for these tools, with
        /// `text` said first (content null without it). Each call's id is `call_<request>_<i>`.
        case toolCalls([(name: String, arguments: String)], text: String? = nil)
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
            messages.allSatisfy({
                $0["role"]?.stringValue != nil
                    && ($0["content"]?.stringValue != nil || ($0["content"] == .null && $0["tool_calls"] != nil))
            })
        else {
            return Self.error(400, "model and messages (role, content) are required", type: "invalid_request_error")
        }
        if let problem = Self.toolProblem(messages: messages, tools: object["tools"]) {
            return Self.error(400, problem, type: "invalid_request_error")
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
        case .toolCalls(let calls, let said):
            let declared = Set((object["tools"]?.arrayValue ?? []).compactMap { $0["function"]?["name"]?.stringValue })
            guard calls.allSatisfy({ declared.contains($0.name) }) else {
                return Self.error(400, "the script calls a tool the request did not declare", type: "test")
            }
            if streaming { return streamedToolCalls(calls, said: said, model: model, number: number) }
            let message: JSONValue = .object([
                "role": .string("assistant"), "content": said.map { .string($0) } ?? .null,
                "tool_calls": .array(
                    calls.enumerated().map { index, call in
                        .object([
                            "id": .string("call_\(number)_\(index)"), "type": .string("function"),
                            "function": .object(["name": .string(call.name), "arguments": .string(call.arguments)]),
                        ])
                    }),
            ])
            return Self.completion(
                message: message, finish: "tool_calls", model: model, number: number, prompt: 50, completion: 10)
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
        return Self.completion(
            message: .object(["role": .string("assistant"), "content": .string(text)]), finish: "stop", model: model,
            number: number, prompt: promptTokens, completion: completionTokens)
    }

    static func completion(
        message: JSONValue, finish: String, model: String, number: Int, prompt: Int, completion: Int
    ) -> Response {
        let answer: JSONValue = .object([
            "id": .string("chatcmpl-\(number)"), "object": .string("chat.completion"), "created": .int(1_700_000_000),
            "model": .string(model),
            "choices": .array([.object(["index": .int(0), "message": message, "finish_reason": .string(finish)])]),
            "usage": .object([
                "prompt_tokens": .int(Int64(prompt)), "completion_tokens": .int(Int64(completion)),
                "total_tokens": .int(Int64(prompt + completion)),
            ]),
        ])
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: answer.jsonText)))
    }

    /// What the real API refuses about tools: declarations that are not functions with a name
    /// and an object schema, an assistant's tool calls not each answered by a `tool` message
    /// right after it, a `tool` message answering no call.
    static func toolProblem(messages: [JSONValue], tools: JSONValue?) -> String? {
        for tool in tools?.arrayValue ?? [] {
            guard tool["type"] == .string("function"), tool["function"]?["name"]?.stringValue != nil,
                tool["function"]?["parameters"]?["type"] == .string("object")
            else { return "tools[]: each must be {type: function, function: {name, parameters: {type: object}}}" }
        }
        var open: [String] = []
        for message in messages {
            if message["role"] == .string("tool") {
                guard let id = message["tool_call_id"]?.stringValue, let index = open.firstIndex(of: id) else {
                    return "a 'tool' message must answer a preceding tool call (tool_call_id)"
                }
                open.remove(at: index)
                continue
            }
            guard open.isEmpty else {
                return "an assistant message with 'tool_calls' must be followed by tool messages answering each"
            }
            open = (message["tool_calls"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
        }
        return nil
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

    /// Tool calls as the streaming API sends them: any words first, then per call a first piece
    /// with its index, id and name and its arguments in two pieces, then `finish_reason`.
    private func streamedToolCalls(
        _ calls: [(name: String, arguments: String)], said: String?, model: String, number: Int
    ) -> Response {
        var chunks: [JSONValue] = []
        func chunk(_ delta: [String: JSONValue], finish: String? = nil) -> JSONValue {
            .object([
                "id": .string("chatcmpl-\(number)"), "object": .string("chat.completion.chunk"),
                "created": .int(1_700_000_000), "model": .string(model),
                "choices": .array([
                    .object([
                        "index": .int(0), "delta": .object(delta), "finish_reason": finish.map { .string($0) } ?? .null,
                    ])
                ]),
            ])
        }
        chunks.append(chunk(["role": .string("assistant"), "content": said.map { _ in .string("") } ?? .null]))
        for word in (said ?? "").split(separator: " ").enumerated() {
            chunks.append(chunk(["content": .string((word.offset == 0 ? "" : " ") + word.element)]))
        }
        for (index, call) in calls.enumerated() {
            let half = call.arguments.index(call.arguments.startIndex, offsetBy: call.arguments.count / 2)
            chunks.append(
                chunk([
                    "tool_calls": .array([
                        .object([
                            "index": .int(Int64(index)), "id": .string("call_\(number)_\(index)"),
                            "type": .string("function"),
                            "function": .object([
                                "name": .string(call.name), "arguments": .string(String(call.arguments[..<half])),
                            ]),
                        ])
                    ])
                ]))
            chunks.append(
                chunk([
                    "tool_calls": .array([
                        .object([
                            "index": .int(Int64(index)),
                            "function": .object(["arguments": .string(String(call.arguments[half...]))]),
                        ])
                    ])
                ]))
        }
        chunks.append(chunk([:], finish: "tool_calls"))
        var text = chunks.map { "data: \($0.jsonText)\n\n" }.joined()
        text += "data: [DONE]\n\n"
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream"], body: .init(byteBuffer: ByteBuffer(string: text))
        )
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
