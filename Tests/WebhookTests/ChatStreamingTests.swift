import AsyncHTTPClient
import Foundation
import SwitchboardCore
import TestSupport
import Testing

@testable import SwitchboardWebhook

/// Streamed chat completions (issue 12: a relay agent speaks tokens as they arrive), against the
/// fake OpenAI server over loopback HTTP. A gated answer sends its first token and then waits for
/// the test, so "streamed, not buffered" is shown by order, not by a clock.
@Suite(.timeLimit(.minutes(1))) struct ChatStreamingTests {
    static let key = "sk-test-stream-0123456789"

    func withModel(
        _ respond: @escaping @Sendable (String, Int) -> FakeOpenAI.Reply,
        _ body: (FakeOpenAI, ChatCompletions) async throws -> Void
    ) async throws {
        let model = FakeOpenAI(port: try freeLoopbackPort(), apiKey: Self.key, respond: respond)
        let running = try await model.start()
        defer { running.stop() }
        #expect(await eventually { (try? await HTTPClient.shared.get(url: model.baseURL).get()) != nil })
        var configuration = LLMConfiguration()
        configuration.baseURL = model.baseURL
        try await body(model, ChatCompletions(configuration: configuration, apiKey: Self.key, http: .shared))
    }

    func stream(_ chat: ChatCompletions) -> AsyncThrowingStream<ChatStreamEvent, any Error> {
        chat.stream(
            model: "gpt-4o-mini", messages: [ChatMessage(role: "user", content: "Where is my order?")],
            temperature: 0.2, maxTokens: 50, deadline: .now + .seconds(20))
    }

    @Test func tokensArriveWhileTheModelIsStillGenerating() async throws {
        let gate = FakeOpenAI.StreamGate()
        try await withModel({ _, _ in .streamed(["Your", " order", " ships today."], gate: gate) }) { model, chat in
            // A guard against a client that buffers: it would wait for the end, which only the
            // gate allows; the watchdog opens it (and says so) rather than let the test hang.
            let watchdogOpened = Locked(false)
            let watchdog = Task {
                try await Task.sleep(for: .seconds(15))
                watchdogOpened.withLock { $0 = true }
                gate.open()
            }
            defer { watchdog.cancel() }
            var events = stream(chat).makeAsyncIterator()
            #expect(try await events.next() == .token("Your"))
            #expect(!watchdogOpened.value, "the first token came before the rest of the answer existed")
            gate.open()
            var rest: [ChatStreamEvent] = []
            while let event = try await events.next() { rest.append(event) }
            #expect(rest == [.token(" order"), .token(" ships today."), .usage(prompt: 10, completion: 3), .done])
            let request = try #require(model.requests.first)
            #expect(request["stream"] == .bool(true))
            #expect(request["stream_options"]?["include_usage"] == .bool(true))
        }
    }

    /// The caller interrupts: the relay cancels the task that speaks the answer, and the request
    /// to the model ends with it (no more tokens generated or paid for).
    @Test func cancellingTheConsumerEndsTheRequest() async throws {
        let gate = FakeOpenAI.StreamGate()
        let tokens = ["Let"] + Array(repeating: " me check", count: 300)
        try await withModel({ _, _ in .streamed(tokens, gate: gate) }) { model, chat in
            let received = Locked([ChatStreamEvent]())
            let consumer = Task {
                for try await event in stream(chat) { received.withLock { $0.append(event) } }
            }
            #expect(await eventually { received.value == [.token("Let")] })
            consumer.cancel()
            _ = await consumer.result
            #expect(model.abandonedStreams == 0)
            gate.open()
            #expect(await eventually { model.abandonedStreams == 1 }, "the model's answer was cut off")
            #expect(received.value == [.token("Let")])
        }
    }

    @Test func aRateLimitBeforeTheAnswerIsRetried() async throws {
        try await withModel({ _, number in number == 1 ? .status(429) : .streamed(["Hello."]) }) { model, chat in
            var events: [ChatStreamEvent] = []
            for try await event in stream(chat) { events.append(event) }
            #expect(events.first == .token("Hello.") && events.last == .done)
            #expect(model.requests.count == 2)
        }
    }

    @Test func aRefusalIsNotRetriedAndSaysWhat() async throws {
        try await withModel({ _, _ in .status(400) }) { model, chat in
            await #expect(throws: ChatCompletions.Failure.self) {
                for try await _ in stream(chat) {}
            }
            #expect(model.requests.count == 1)
        }
    }
}
