import Foundation

/// An incremental reader of `text/event-stream` (the WHATWG server-sent events format), as a
/// streamed chat completion arrives: bytes in whatever pieces the network delivers, events out as
/// soon as their blank line arrives. Only `data` matters here; comments (`:`), `event`, `id` and
/// `retry` lines are skipped. A line longer than `maxLineBytes` is an error (a hostile or broken
/// peer must not grow the buffer without bound).
public struct ServerSentEvents: Sendable {
    public static let maxLineBytes = 1 << 20

    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    private var pending: [UInt8] = []
    private var data: [String] = []

    public init() {}

    /// Feeds the next bytes; returns the `data` of every event they completed, in order.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws(Failure) -> [String] {
        var events: [String] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                var line = pending
                pending.removeAll(keepingCapacity: true)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                if let event = take(String(decoding: line, as: UTF8.self)) { events.append(event) }
            } else {
                pending.append(byte)
                guard pending.count <= Self.maxLineBytes else {
                    throw Failure(description: "an event-stream line longer than \(Self.maxLineBytes) bytes")
                }
            }
        }
        return events
    }

    /// The stream ended: an event without its closing blank line is still delivered.
    public mutating func finish() -> [String] {
        var events: [String] = []
        if !pending.isEmpty, let event = take(String(decoding: pending, as: UTF8.self)) { events.append(event) }
        pending.removeAll()
        if let event = take("") { events.append(event) }
        return events
    }

    private mutating func take(_ line: String) -> String? {
        if line.isEmpty {
            guard !data.isEmpty else { return nil }
            defer { data.removeAll() }
            return data.joined(separator: "\n")
        }
        if line.hasPrefix(":") { return nil }
        let (field, value) =
            line.firstIndex(of: ":").map { colon in
                let rest = line[line.index(after: colon)...]
                return (line[..<colon], rest.hasPrefix(" ") ? rest.dropFirst() : rest)
            } ?? (line[...], ""[...])
        if field == "data" { data.append(String(value)) }
        return nil
    }
}

/// One event of a streamed chat completion (OpenAI's `chat.completion.chunk`).
public enum ChatStreamEvent: Sendable, Equatable {
    /// Text to say, as it was generated.
    case token(String)
    /// Token counts (sent last when the request asked for `stream_options.include_usage`).
    case usage(prompt: Int, completion: Int)
    /// `data: [DONE]`: the answer is complete.
    case done
    /// A piece of a tool call (function calling): the first piece of call `index` carries its id
    /// and name, later ones more of its arguments (`ToolCallAccumulator` puts them together).
    case toolCall(index: Int, id: String?, name: String?, arguments: String)

    /// The events in one `data` payload: a content delta, usage, both, or none (a role-only or
    /// empty chunk); nil when the payload is not a chunk at all (skipped, not fatal).
    public static func parse(_ data: String) -> [ChatStreamEvent]? {
        if data.trimmingCharacters(in: .whitespaces) == "[DONE]" { return [.done] }
        // Decoded into the fields it needs, not a generic JSON tree: this runs for every token.
        guard let chunk = try? JSONDecoder().decode(Chunk.self, from: Data(data.utf8)) else { return nil }
        var events: [ChatStreamEvent] = []
        if let content = chunk.choices?.first?.delta?.content, !content.isEmpty { events.append(.token(content)) }
        for call in chunk.choices?.first?.delta?.toolCalls ?? [] {
            events.append(
                .toolCall(
                    index: call.index ?? 0, id: call.id, name: call.function?.name,
                    arguments: call.function?.arguments ?? ""))
        }
        if let usage = chunk.usage {
            events.append(.usage(prompt: usage.promptTokens ?? 0, completion: usage.completionTokens ?? 0))
        }
        return events
    }

    /// The part of a `chat.completion.chunk` that matters here; other fields are skipped.
    struct Chunk: Decodable {
        struct Choice: Decodable {
            struct Delta: Decodable {
                struct ToolCallPiece: Decodable {
                    struct Function: Decodable {
                        var name: String?
                        var arguments: String?
                    }
                    var index: Int?
                    var id: String?
                    var function: Function?
                }
                var content: String?
                var toolCalls: [ToolCallPiece]?
                enum CodingKeys: String, CodingKey {
                    case content
                    case toolCalls = "tool_calls"
                }
            }
            var delta: Delta?
        }
        struct Usage: Decodable {
            var promptTokens: Int?
            var completionTokens: Int?
            enum CodingKeys: String, CodingKey {
                case promptTokens = "prompt_tokens"
                case completionTokens = "completion_tokens"
            }
        }
        var choices: [Choice]?
        var usage: Usage?
    }
}

/// Puts a streamed answer's tool calls together from their pieces, in the order of their index.
public struct ToolCallAccumulator: Sendable, Equatable {
    private var pieces: [Int: (id: String?, name: String?, arguments: String)] = [:]

    public init() {}

    public mutating func add(index: Int, id: String?, name: String?, arguments: String) {
        var piece = pieces[index] ?? (nil, nil, "")
        if let id, !id.isEmpty { piece.id = id }
        if let name, !name.isEmpty { piece.name = name }
        piece.arguments += arguments
        pieces[index] = piece
    }

    /// The complete calls (a piece without an id or a name is dropped).
    public var calls: [ToolCall] {
        pieces.keys.sorted().compactMap { index in
            guard let piece = pieces[index], let id = piece.id, let name = piece.name else { return nil }
            return ToolCall(id: id, name: name, arguments: piece.arguments.isEmpty ? "{}" : piece.arguments)
        }
    }

    public static func == (lhs: ToolCallAccumulator, rhs: ToolCallAccumulator) -> Bool { lhs.calls == rhs.calls }
}
