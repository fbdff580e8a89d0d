import AsyncHTTPClient
import Foundation
import Metrics
import NIOCore
import SwitchboardCore

/// Where the LLM agents' model is: an OpenAI-compatible chat-completions API.
public struct LLMConfiguration: Sendable {
    /// `OPENAI_BASE_URL`, e.g. https://api.openai.com/v1 (the path `/chat/completions` is appended).
    public var baseURL = "https://api.openai.com/v1"
    /// `OPENAI_API_KEY`; never printed. Without one, LLM turns answer with the fallback.
    public var apiKey: String?
    /// A turn's whole budget for the model, retries included: well inside Twilio's 15 seconds.
    public var turnDeadline: Duration = .seconds(8)

    public init() {}
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
    }

    /// A failure without the key or the conversation in its description.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func complete(
        model: String, messages: [ChatMessage], temperature: Double, maxTokens: Int, deadline: ContinuousClock.Instant
    ) async throws -> Reply {
        let started = ContinuousClock.now
        do {
            let reply = try await attempts(
                model: model, messages: messages, temperature: temperature, maxTokens: maxTokens, deadline: deadline)
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
        model: String, messages: [ChatMessage], temperature: Double, maxTokens: Int, deadline: ContinuousClock.Instant
    ) async throws -> Reply {
        let body = JSONValue.object([
            "model": .string(model),
            "messages": .array(messages.map { .object(["role": .string($0.role), "content": .string($0.content)]) }),
            "temperature": .double(temperature), "max_tokens": .int(Int64(maxTokens)),
        ]).jsonText
        var attempt = 0
        while true {
            let remaining = deadline - .now
            guard remaining > .milliseconds(100) else {
                throw Failure(description: "no reply within the turn's deadline")
            }
            var request = HTTPClientRequest(url: configuration.baseURL + "/chat/completions")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
            let status: Int
            let text: String
            do {
                let nanoseconds =
                    remaining.components.seconds * 1_000_000_000 + remaining.components.attoseconds / 1_000_000_000
                let response = try await http.execute(request, timeout: .nanoseconds(nanoseconds))
                status = Int(response.status.code)
                text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            } catch {
                throw Failure(description: "the model API did not answer: \(type(of: error))")
            }
            if status == 200 { return try Self.parse(text) }
            guard status == 429 || status >= 500 else {
                throw Failure(description: "the model API answered HTTP \(status)")
            }
            attempt += 1
            let pause = min(Duration.milliseconds(250 << min(attempt, 4)), (deadline - .now) / 2)
            guard pause > .zero else { throw Failure(description: "HTTP \(status), and no time left to retry") }
            try await Task.sleep(for: pause)
        }
    }

    static func parse(_ text: String) throws -> Reply {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)),
            case .array(let choices)? = value["choices"], let first = choices.first,
            case .string(let content)? = first["message"]?["content"]
        else { throw Failure(description: "the model API's answer has no choices[0].message.content") }
        func count(_ key: String) -> Int {
            if case .int(let number)? = value["usage"]?[key] { return Int(number) }
            return 0
        }
        return Reply(
            text: content, promptTokens: count("prompt_tokens"), completionTokens: count("completion_tokens"))
    }
}
