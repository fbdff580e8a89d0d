import AsyncHTTPClient
import Foundation
import Metrics
import NIOCore
import NIOHTTP1
import SwitchboardCore
import Synchronization

/// Where the LLM agents' model is: an OpenAI-compatible chat-completions API.
public struct LLMConfiguration: Sendable {
    /// `OPENAI_BASE_URL`, e.g. https://api.openai.com/v1 (the path `/chat/completions` is appended).
    public var baseURL = "https://api.openai.com/v1"
    /// `OPENAI_API_KEY`; never printed. Without one, LLM turns answer with the fallback.
    public var apiKey: String?
    /// A turn's whole budget for the model, retries included: well inside Twilio's 15 seconds.
    public var turnDeadline: Duration = .seconds(8)
    /// Model requests in flight at once. A streamed answer holds an HTTP/1.1 connection for as
    /// long as it streams (a self-hosted model behind `http://`); AsyncHTTPClient's default of 8
    /// per host would queue the ninth concurrent answer behind the others (`bench relay` showed
    /// 600 ms added at 20 calls).
    public var maxConnections = 1024
    /// A streamed answer that sends nothing for this long after its first token has stalled: it
    /// ends with what was said. (Its first token must come within `turnDeadline`.)
    public var tokenStall: Duration = .seconds(5)
    /// The longest a streamed answer may take in all, whatever its pace.
    public var longestAnswer: Duration = .seconds(120)

    public init() {}

    /// The HTTP client of the model's requests; shut it down after use.
    public func makeHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = maxConnections
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}

/// A client of `POST {base}/chat/completions`. 429 and 5xx are retried with backoff while the
/// turn's deadline allows; anything else fails the turn at once.
struct ChatCompletions: Sendable {
    let configuration: LLMConfiguration
    let apiKey: String
    let http: HTTPClient

    struct Reply: Sendable {
        var text: String
        var promptTokens: Int
        var completionTokens: Int
        /// The tools the model asked to call (function calling), if any.
        var toolCalls: [ToolCall] = []
    }

    /// A failure without the key or the conversation in its description.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func complete(
        model: String, messages: [ChatMessage], temperature: Double, maxTokens: Int, tools: [AgentTool] = [],
        deadline: ContinuousClock.Instant
    ) async throws -> Reply {
        let started = ContinuousClock.now
        do {
            let reply = try await attempts(
                model: model, messages: messages, temperature: temperature, maxTokens: maxTokens, tools: tools,
                deadline: deadline)
            Metrics.Timer(label: MetricNames.llmRequestDuration, dimensions: [("outcome", "ok")])
                .record(duration: ContinuousClock.now - started)
            Counter(label: MetricNames.llmTokens, dimensions: [("type", "prompt")]).increment(by: reply.promptTokens)
            Counter(label: MetricNames.llmTokens, dimensions: [("type", "completion")])
                .increment(by: reply.completionTokens)
            return reply
        } catch {
            let outcome = ContinuousClock.now >= deadline - .milliseconds(100) ? "timeout" : "error"
            Metrics.Timer(label: MetricNames.llmRequestDuration, dimensions: [("outcome", outcome)])
                .record(duration: ContinuousClock.now - started)
            throw error
        }
    }

    private func attempts(
        model: String, messages: [ChatMessage], temperature: Double, maxTokens: Int, tools: [AgentTool],
        deadline: ContinuousClock.Instant
    ) async throws -> Reply {
        let body = Self.body(
            model: model, messages: messages, temperature: temperature, maxTokens: maxTokens, tools: tools)
        return try await retrying(until: deadline) { remaining in
            var request = HTTPClientRequest(url: configuration.baseURL + "/chat/completions")
            request.method = .POST
            request.headers = headers(streaming: false)
            request.body = .bytes(ByteBuffer(string: body))
            let status: Int
            let text: String
            do {
                let response = try await http.execute(request, timeout: remaining)
                status = Int(response.status.code)
                text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            } catch {
                throw Failure(description: "the model API did not answer: \(type(of: error))")
            }
            return (status, status == 200 ? try Self.parse(text) : nil)
        }
    }

    /// Runs `attempt` with the time left until it succeeds (a value, from a 200), retrying 429
    /// and 5xx answers with backoff while the deadline allows (`retryPause`).
    private func retrying<Value>(
        until deadline: ContinuousClock.Instant, _ attempt: (TimeAmount) async throws -> (status: Int, value: Value?)
    ) async throws -> Value {
        var attempts = 0
        while true {
            let remaining = deadline - .now
            guard remaining > .milliseconds(100) else {
                throw Failure(description: "no reply within the turn's deadline")
            }
            let (status, value) = try await attempt(TimeAmount(remaining))
            if let value { return value }
            attempts += 1
            try await Task.sleep(for: try Self.retryPause(after: status, attempt: attempts, deadline: deadline))
        }
    }

    static func body(
        model: String, messages: [ChatMessage], temperature: Double, maxTokens: Int, tools: [AgentTool] = [],
        stream: Bool = false
    ) -> String {
        var object: [String: JSONValue] = [
            "model": .string(model), "messages": .array(messages.map(Self.message)),
            "temperature": .double(temperature), "max_tokens": .int(Int64(maxTokens)),
        ]
        if !tools.isEmpty { object["tools"] = .array(tools.map(\.definition)) }
        if stream {
            object["stream"] = .bool(true)
            object["stream_options"] = .object(["include_usage": .bool(true)])
        }
        return JSONValue.object(object).jsonText
    }

    /// A message as the chat-completions API reads it: an assistant's tool calls (content null when
    /// it said nothing) and a tool's answer with the call it answers.
    static func message(_ message: ChatMessage) -> JSONValue {
        var object: [String: JSONValue] = ["role": .string(message.role), "content": .string(message.content)]
        if let calls = message.toolCalls, !calls.isEmpty {
            if message.content.isEmpty { object["content"] = .null }
            object["tool_calls"] = .array(
                calls.map {
                    .object([
                        "id": .string($0.id), "type": .string("function"),
                        "function": .object(["name": .string($0.name), "arguments": .string($0.arguments)]),
                    ])
                })
        }
        if let id = message.toolCallId { object["tool_call_id"] = .string(id) }
        return .object(object)
    }

    func headers(streaming: Bool) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        headers.add(name: "Content-Type", value: "application/json")
        if streaming { headers.add(name: "Accept", value: "text/event-stream") }
        return headers
    }

    /// Streams the answer (`stream: true`): each token as the model generates it, then `.usage`
    /// (if the API reports it) and `.done`. Retries 429 and 5xx before the first byte of the
    /// answer while the deadline allows, as `complete` does. Cancelling the consumer's task ends
    /// the HTTP request at once, so an interrupted answer costs no more tokens.
    func stream(
        model: String, messages: [ChatMessage], temperature: Double, maxTokens: Int, tools: [AgentTool] = [],
        deadline: ContinuousClock.Instant
    ) -> AsyncThrowingStream<ChatStreamEvent, any Error> {
        let body = Self.body(
            model: model, messages: messages, temperature: temperature, maxTokens: maxTokens, tools: tools,
            stream: true)
        let (events, continuation) = AsyncThrowingStream<ChatStreamEvent, any Error>.makeStream()
        let progress = StreamProgress()
        let task = Task {
            do {
                try await streamAttempts(body: body, deadline: deadline) { event in
                    if case .token = event { progress.tokenArrived() }
                    continuation.yield(event)
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: progress.stalled.map { Failure(description: $0) } ?? error)
            }
        }
        // The first token must come by the deadline, and each next one within `tokenStall`.
        let stall = configuration.tokenStall
        let watchdog = Task {
            while !Task.isCancelled {
                let (limit, reason) = progress.limit(firstTokenBy: deadline, stall: stall)
                if ContinuousClock.now >= limit {
                    progress.stall(reason)
                    task.cancel()
                    return
                }
                try? await Task.sleep(until: limit)
            }
        }
        continuation.onTermination = { _ in
            task.cancel()
            watchdog.cancel()
        }
        return events
    }

    /// When the stream's last token arrived, and why it was abandoned if it stalled.
    final class StreamProgress: Sendable {
        private let state = Mutex<(last: ContinuousClock.Instant?, stalled: String?)>((nil, nil))
        func tokenArrived() { state.withLock { $0.last = .now } }
        var stalled: String? { state.withLock { $0.stalled } }
        func stall(_ reason: String) { state.withLock { $0.stalled = reason } }
        func limit(firstTokenBy deadline: ContinuousClock.Instant, stall: Duration) -> (ContinuousClock.Instant, String)
        {
            guard let last = state.withLock({ $0.last }) else {
                return (deadline, "no reply within the turn's deadline")
            }
            return (last + stall, "the model's stream stalled for \(stall) after its first token")
        }
    }

    private func streamAttempts(
        body: String, deadline: ContinuousClock.Instant, yield: @escaping @Sendable (ChatStreamEvent) -> Void
    ) async throws {
        try await retrying(until: deadline) { remaining in
            let request = try HTTPClient.Request(
                url: configuration.baseURL + "/chat/completions", method: .POST, headers: headers(streaming: true),
                body: .string(body))
            // The delegate API, because its task can be cancelled while it waits for the next
            // token (a cancelled reader of the async body only notices when data arrives).
            let delegate = ChatStreamDelegate(yield: yield)
            // The first token's deadline is the watchdog's (`stream`); this one caps the whole answer.
            let task = http.execute(
                request: request, delegate: delegate,
                deadline: .now() + remaining + TimeAmount(configuration.longestAnswer))
            let status: Int
            do {
                status = try await withTaskCancellationHandler {
                    try await task.futureResult.get()
                } onCancel: {
                    task.cancel()
                }
            } catch {
                if Task.isCancelled { throw CancellationError() }
                if let unreadable = delegate.unreadable {
                    throw Failure(description: "the model API's stream is unreadable: \(unreadable)")
                }
                throw Failure(description: "the model API did not answer or broke off: \(type(of: error))")
            }
            return (status, status == 200 ? () : nil)
        }
    }

    /// After an answer that is not 200: how long to wait before the next attempt (429 and 5xx,
    /// while the deadline allows); any other status, or no time left, fails the turn.
    static func retryPause(after status: Int, attempt: Int, deadline: ContinuousClock.Instant) throws -> Duration {
        guard status == 429 || status >= 500 else {
            throw Failure(description: "the model API answered HTTP \(status)")
        }
        let pause = min(Duration.milliseconds(250 << min(attempt, 4)), (deadline - .now) / 2)
        guard pause > .zero else { throw Failure(description: "HTTP \(status), and no time left to retry") }
        return pause
    }

    static func parse(_ text: String) throws -> Reply {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)),
            case .array(let choices)? = value["choices"], let message = choices.first?["message"]
        else { throw Failure(description: "the model API's answer has no choices[0].message") }
        var toolCalls: [ToolCall] = []
        if case .array(let calls)? = message["tool_calls"] {
            for call in calls {
                guard case .string(let id)? = call["id"], case .string(let name)? = call["function"]?["name"] else {
                    throw Failure(description: "the model API's answer has a tool call without an id or a name")
                }
                let arguments: String
                if case .string(let text)? = call["function"]?["arguments"] {
                    arguments = text
                } else {
                    arguments = "{}"
                }
                toolCalls.append(ToolCall(id: id, name: name, arguments: arguments))
            }
        }
        let content: String
        switch message["content"] {
        case .string(let text)?: content = text
        case .null?,
            nil where !toolCalls.isEmpty:
            content = ""
        default: throw Failure(description: "the model API's answer has no choices[0].message.content")
        }
        func count(_ key: String) -> Int {
            if case .int(let number)? = value["usage"]?[key] { return Int(number) }
            return 0
        }
        return Reply(
            text: content, promptTokens: count("prompt_tokens"), completionTokens: count("completion_tokens"),
            toolCalls: toolCalls)
    }
}

/// Reads a streamed answer as the connection delivers it (on its event loop) and yields each
/// event at once; the answer's status is the request's result. An answer that is not 200 is not
/// parsed (its body is skipped). After `[DONE]`, anything more is ignored.
final class ChatStreamDelegate: HTTPClientResponseDelegate {
    typealias Response = Int

    private struct State {
        var status = 0
        var reader = ServerSentEvents()
        var done = false
        var unreadable: ServerSentEvents.Failure?
    }

    private let state = Mutex(State())
    private let yield: @Sendable (ChatStreamEvent) -> Void

    init(yield: @escaping @Sendable (ChatStreamEvent) -> Void) {
        self.yield = yield
    }

    /// Why the stream was abandoned, if it could not be read.
    var unreadable: ServerSentEvents.Failure? { state.withLock { $0.unreadable } }

    func didReceiveHead(task: HTTPClient.Task<Int>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        state.withLock { $0.status = Int(head.status.code) }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Int>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        let events = state.withLock { state -> [ChatStreamEvent] in
            guard state.status == 200, !state.done, state.unreadable == nil else { return [] }
            do throws(ServerSentEvents.Failure) {
                let payloads = try state.reader.feed(buffer.readableBytesView)
                return Self.events(payloads, &state)
            } catch {
                state.unreadable = error
                return []
            }
        }
        if unreadable != nil { task.cancel() }
        events.forEach(yield)
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveError(task: HTTPClient.Task<Int>, _ error: any Error) {}

    func didFinishRequest(task: HTTPClient.Task<Int>) throws -> Int {
        let (status, events) = state.withLock { state -> (Int, [ChatStreamEvent]) in
            guard state.status == 200, !state.done else { return (state.status, []) }
            var events = Self.events(state.reader.finish(), &state)
            // Ended without [DONE]: what arrived is the answer.
            if !state.done { events.append(.done) }
            return (state.status, events)
        }
        events.forEach(yield)
        return status
    }

    private static func events(_ payloads: [String], _ state: inout State) -> [ChatStreamEvent] {
        var events: [ChatStreamEvent] = []
        for payload in payloads where !state.done {
            for event in ChatStreamEvent.parse(payload) ?? [] where !state.done {
                events.append(event)
                if event == .done { state.done = true }
            }
        }
        return events
    }
}
