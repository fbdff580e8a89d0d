import Foundation

/// A tool an LLM voice agent may call (OpenAI-compatible function calling), declared in the
/// `voice_agent` job's `tools`:
///
///     "tools": [
///       {"type": "end_call"},
///       {"type": "transfer_call", "to": "+15551230000", "description": "Hand the caller to a person"},
///       {"type": "send_sms", "description": "Text the caller a confirmation"},
///       {"type": "http", "name": "book_appointment", "description": "Book a slot",
///        "parameters": {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]},
///        "url": "https://api.example.com/tools/book", "timeoutSeconds": 5}
///     ]
///
/// Built-ins end the call, transfer it to the declared number (the model never chooses where to),
/// or queue a text message to the caller (an `sms` job: rate limits and opt-outs apply). An
/// `http` tool is a signed POST of the model's arguments to `url`; its answer goes back to the model.
public struct AgentTool: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case endCall = "end_call"
        case transferCall = "transfer_call"
        case sendSMS = "send_sms"
        case http
    }

    public var type: Kind
    /// What the model calls it: the built-in's type, or the `http` tool's own name.
    public var name: String
    public var description: String
    /// A JSON-schema object describing the arguments.
    public var parameters: JSONValue
    /// `http`: where the arguments are POSTed.
    public var url: String?
    /// `transfer_call`: the number the call is transferred to (E.164).
    public var to: String?
    /// `send_sms`: the sender (default: the number the call comes from).
    public var from: String?
    /// `http`: how long the tool may take (0.5…10 s, default 5).
    public var timeoutSeconds: Double?

    public static let maxTools = 16

    public init(
        type: Kind, name: String, description: String, parameters: JSONValue, url: String? = nil, to: String? = nil,
        from: String? = nil, timeoutSeconds: Double? = nil
    ) {
        self.type = type
        self.name = name
        self.description = description
        self.parameters = parameters
        self.url = url
        self.to = to
        self.from = from
        self.timeoutSeconds = timeoutSeconds
    }
    static let fields: Set<String> = [
        "type", "name", "description", "parameters", "url", "to", "from", "timeoutSeconds",
    ]

    /// The OpenAI `tools[]` entry.
    public var definition: JSONValue {
        .object([
            "type": .string("function"),
            "function": .object([
                "name": .string(name), "description": .string(description), "parameters": parameters,
            ]),
        ])
    }

    /// The `tools` array of a job, checked; errors name `tools[i].field`.
    public static func parseList(_ value: JSONValue) throws(InputError) -> [AgentTool] {
        guard case .array(let entries) = value else {
            throw InputError(field: "tools", problem: "must be an array of tool declarations")
        }
        guard entries.count <= maxTools else {
            throw InputError(field: "tools", problem: "has \(entries.count) tools; at most \(maxTools)")
        }
        var tools: [AgentTool] = []
        for (index, entry) in entries.enumerated() {
            let tool = try parse(entry, field: "tools[\(index)]")
            guard !tools.contains(where: { $0.name == tool.name }) else {
                throw InputError(field: "tools[\(index)].name", problem: "'\(tool.name)' is declared twice")
            }
            tools.append(tool)
        }
        return tools
    }

    static func parse(_ value: JSONValue, field: String) throws(InputError) -> AgentTool {
        guard case .object(let object) = value else {
            throw InputError(field: field, problem: "must be an object with a type")
        }
        if let unknown = object.keys.sorted().first(where: { !fields.contains($0) }) {
            throw InputError(field: "\(field).\(unknown.prefix(64))", problem: "is not a tool field")
        }
        guard case .string(let typeText)? = object["type"], let type = Kind(rawValue: typeText) else {
            let known = Kind.allCases.map(\.rawValue).joined(separator: ", ")
            throw InputError(field: "\(field).type", problem: "must be one of \(known)")
        }
        func text(_ key: String, limit: Int) throws(InputError) -> String? {
            guard let value = object[key], value != .null else { return nil }
            guard case .string(let text) = value, !text.trimmingSpaces().isEmpty, text.count <= limit else {
                throw InputError(
                    field: "\(field).\(key)", problem: "must be a non-empty string of at most \(limit) characters")
            }
            return text
        }
        var tool = AgentTool(
            type: type, name: type.rawValue, description: try text("description", limit: 1024) ?? "",
            parameters: .object(["type": .string("object"), "properties": .object([:])]))
        switch type {
        case .endCall:
            if tool.description.isEmpty {
                tool.description =
                    "End the call once the conversation is over; your reply is said first as the goodbye."
            }
        case .transferCall:
            guard let to = try text("to", limit: 64) else {
                throw InputError(field: "\(field).to", problem: "is required: the number to transfer the caller to")
            }
            tool.to = try PhoneNumber(parsing: to, field: "\(field).to").e164
            if tool.description.isEmpty { tool.description = "Transfer the caller to a person." }
        case .sendSMS:
            if let from = try text("from", limit: 64) {
                tool.from = try PhoneNumber(parsing: from, field: "\(field).from").e164
            }
            if tool.description.isEmpty { tool.description = "Send the caller a text message." }
            tool.parameters = .object([
                "type": .string("object"),
                "properties": .object([
                    "body": .object([
                        "type": .string("string"), "description": .string("The text message, at most 1600 characters."),
                    ])
                ]),
                "required": .array([.string("body")]),
            ])
        case .http:
            guard let name = try text("name", limit: 64), Self.isName(name) else {
                throw InputError(
                    field: "\(field).name",
                    problem: "is required: 1–64 letters, digits, '_' or '-' (what the model calls)")
            }
            guard Kind(rawValue: name) == nil else {
                throw InputError(field: "\(field).name", problem: "'\(name)' is a built-in tool's name")
            }
            tool.name = name
            guard !tool.description.isEmpty else {
                throw InputError(
                    field: "\(field).description", problem: "is required: it tells the model when to call it")
            }
            guard let url = try text("url", limit: 2048), HTTPURL.isHTTP(url) else {
                throw InputError(field: "\(field).url", problem: "is required: an http(s) URL with a host")
            }
            tool.url = url
            if let parameters = object["parameters"] {
                guard case .object(let schema) = parameters, schema["type"] == .string("object") else {
                    throw InputError(
                        field: "\(field).parameters", problem: "must be a JSON schema object with \"type\": \"object\"")
                }
                guard parameters.jsonText.utf8.count <= 16_384 else {
                    throw InputError(field: "\(field).parameters", problem: "must be at most 16 KiB")
                }
                tool.parameters = parameters
            }
            if let timeout = object["timeoutSeconds"] {
                let seconds: Double? =
                    switch timeout {
                    case .int(let value): Double(value)
                    case .double(let value): value
                    default: nil
                    }
                guard let seconds, seconds >= 0.5, seconds <= 10 else {
                    throw InputError(field: "\(field).timeoutSeconds", problem: "must be a number from 0.5 to 10")
                }
                tool.timeoutSeconds = seconds
            }
        }
        if type != .http, object["name"] != nil, object["name"] != .string(type.rawValue) {
            throw InputError(field: "\(field).name", problem: "a built-in tool is called '\(type.rawValue)'")
        }
        if type != .http, let key = ["url", "parameters", "timeoutSeconds"].first(where: { object[$0] != nil }) {
            throw InputError(field: "\(field).\(key)", problem: "belongs to an http tool")
        }
        if type != .transferCall, object["to"] != nil {
            throw InputError(field: "\(field).to", problem: "belongs to a transfer_call tool")
        }
        if type != .sendSMS, object["from"] != nil {
            throw InputError(field: "\(field).from", problem: "belongs to a send_sms tool")
        }
        return tool
    }

    static func isName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy {
                ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 || $0 == 45
            }
    }
}

/// A tool call the model asked for: `arguments` is the JSON text it wrote (not trusted).
public struct ToolCall: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// What running a tool call came to, for the model and for the call.
public struct ToolResult: Sendable, Codable, Equatable {
    public enum Effect: Sendable, Codable, Equatable {
        /// The answer goes back to the model.
        case none
        /// `end_call`: the call ends after the model's goodbye.
        case endCall
        /// `transfer_call`: the caller is connected to this number.
        case transfer(to: String)
    }

    public var callID: String
    public var name: String
    /// What the model reads (the tool's answer, or what went wrong).
    public var content: String
    public var ok: Bool
    public var effect: Effect

    /// What `call` answered the model.
    public static func answer(to call: ToolCall, _ content: String, effect: Effect = .none) -> ToolResult {
        ToolResult(callID: call.id, name: call.name, content: content, ok: true, effect: effect)
    }

    /// `call` failed: the model reads "error: " and why.
    public static func failure(of call: ToolCall, _ problem: String) -> ToolResult {
        ToolResult(callID: call.id, name: call.name, content: "error: " + problem, ok: false)
    }

    public init(callID: String, name: String, content: String, ok: Bool, effect: Effect = .none) {
        self.callID = callID
        self.name = name
        self.content = content
        self.ok = ok
        self.effect = effect
    }
}
