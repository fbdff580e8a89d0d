import SwitchboardCore
import Testing

/// The event-stream reader a streamed chat completion goes through: events as soon as their blank
/// line arrives, whatever the network's chunking.
@Suite struct ServerSentEventsTests {
    static let stream =
        ": keep-alive comment\n"
        + "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"
        + "data: {\"choices\":[{\"delta\":{\"content\":\"Your order\"}}]}\r\n\r\n"
        + "event: ignored\nid: 7\nretry: 100\n"
        + "data: {\"choices\":[{\"delta\":{\"content\":\" ships today.\"}}]}\n\n"
        + "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":31,\"completion_tokens\":5}}\n\n"
        + "data: [DONE]\n\n"

    static func events(_ payloads: [String]) -> [ChatStreamEvent] {
        payloads.flatMap { ChatStreamEvent.parse($0) ?? [] }
    }

    @Test(arguments: [1, 2, 3, 7, 64, 10_000])
    func theSameEventsWhateverTheChunking(chunk: Int) throws {
        var reader = ServerSentEvents()
        let bytes = Array(Self.stream.utf8)
        var payloads: [String] = []
        for start in stride(from: 0, to: bytes.count, by: chunk) {
            payloads += try reader.feed(bytes[start..<min(start + chunk, bytes.count)])
        }
        payloads += reader.finish()
        #expect(
            Self.events(payloads) == [
                .token("Your order"), .token(" ships today."), .usage(prompt: 31, completion: 5), .done,
            ])
    }

    @Test func anEventIsDeliveredWhenItsBlankLineArrivesNotBefore() throws {
        var reader = ServerSentEvents()
        #expect(try reader.feed(Array("data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n".utf8)).isEmpty)
        let payloads = try reader.feed(Array("\n".utf8))
        #expect(Self.events(payloads) == [.token("Hi")])
    }

    @Test func multiLineDataJoinsAndAnUnterminatedLastEventStillCounts() throws {
        var reader = ServerSentEvents()
        #expect(try reader.feed(Array("data: first\ndata: second\n\ndata:tight".utf8)) == ["first\nsecond"])
        #expect(reader.finish() == ["tight"])
    }

    @Test func payloadsThatAreNotChunksAreSkippedNotFatal() {
        #expect(ChatStreamEvent.parse("not json") == nil)
        #expect(ChatStreamEvent.parse("[1]") == nil)
        #expect(ChatStreamEvent.parse(#"{"choices":[{"delta":{}}]}"#) == [])
        #expect(ChatStreamEvent.parse(#"{"choices":[{"delta":{"content":""}}]}"#) == [])
        #expect(ChatStreamEvent.parse(" [DONE] ") == [.done])
    }

    @Test func anEndlessLineIsRefused() {
        var reader = ServerSentEvents()
        let line = [UInt8](repeating: UInt8(ascii: "a"), count: ServerSentEvents.maxLineBytes + 1)
        #expect(throws: ServerSentEvents.Failure.self) { try reader.feed(line) }
    }

    /// Function calling over a stream: a call's first piece has its id and name, the arguments
    /// come in pieces; the accumulator puts each call together in index order.
    @Test func toolCallPiecesAreParsedAndPutTogether() throws {
        let first =
            #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"send_sms","arguments":"{\"bo"}}]}}]}"#
        let second =
            #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"dy\":\"hi\"}"}}]}}]}"#
        let other =
            #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","function":{"name":"end_call","arguments":""}}]}}]}"#
        var calls = ToolCallAccumulator()
        for payload in [first, second, other] {
            for event in try #require(ChatStreamEvent.parse(payload)) {
                guard case .toolCall(let index, let id, let name, let arguments) = event else {
                    Issue.record("not a tool call: \(event)")
                    continue
                }
                calls.add(index: index, id: id, name: name, arguments: arguments)
            }
        }
        #expect(
            calls.calls == [
                ToolCall(id: "call_a", name: "end_call", arguments: "{}"),
                ToolCall(id: "call_b", name: "send_sms", arguments: #"{"body":"hi"}"#),
            ])
    }
}
