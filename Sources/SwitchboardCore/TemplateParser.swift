/// Parses template source into nodes. Errors say what is wrong and where (`line 2, column 7`).
struct TemplateParser {
    let source: String
    let field: String
    private var chars: [Character]
    private var index = 0

    init(source: String, field: String) {
        self.source = source
        self.field = field
        chars = Array(source)
    }

    private enum Tag {
        case open(negated: Bool, test: Template.Expression)
        case otherwise
        case close(String)
        case value(Template.Expression)
    }

    /// Blocks nested deeper than this are refused: parsing, rendering and freeing nodes recurse once
    /// per level, and a hostile payload must not be able to exhaust a worker's stack.
    static let maxNesting = 32

    mutating func parseAll() throws(InputError) -> [Template.Node] {
        let (nodes, terminator) = try parseNodes(inside: nil, depth: 0)
        if let terminator { throw error("'{{\(terminator)}}' without a matching opening block", at: index) }
        return nodes
    }

    /// Parses until the end of input or an `else`/close tag, which is returned.
    private mutating func parseNodes(inside block: String?, depth: Int) throws(InputError) -> (
        [Template.Node], String?
    ) {
        var nodes: [Template.Node] = []
        var text = ""
        while index < chars.count {
            if chars[index] == "{", index + 1 < chars.count, chars[index + 1] == "{" {
                let tagStart = index
                let tag = try parseTag()
                switch tag {
                case .value(let expression):
                    if !text.isEmpty { nodes.append(.text(text)); text = "" }
                    nodes.append(.value(expression))
                case .open(let negated, let test):
                    if !text.isEmpty { nodes.append(.text(text)); text = "" }
                    let name = negated ? "unless" : "if"
                    guard depth < Self.maxNesting else {
                        throw error(
                            "blocks are nested more than \(Self.maxNesting) deep", at: tagStart)
                    }
                    let (then, first) = try parseNodes(inside: name, depth: depth + 1)
                    var otherwise: [Template.Node] = []
                    var end = first
                    if first == "else" {
                        (otherwise, end) = try parseNodes(inside: name, depth: depth + 1)
                    }
                    guard end == "/" + name else {
                        throw error("'{{#\(name)}}' is never closed with '{{/\(name)}}'", at: tagStart)
                    }
                    nodes.append(.conditional(negated: negated, test: test, then: then, otherwise: otherwise))
                case .otherwise:
                    guard block != nil else {
                        throw error("'{{else}}' outside an {{#if}} or {{#unless}} block", at: tagStart)
                    }
                    if !text.isEmpty { nodes.append(.text(text)) }
                    return (nodes, "else")
                case .close(let name):
                    guard let block, "/" + block == name || name == "/" + block else {
                        throw error("'{{\(name)}}' does not close an open block", at: tagStart)
                    }
                    if !text.isEmpty { nodes.append(.text(text)) }
                    return (nodes, name)
                }
            } else {
                text.append(chars[index])
                index += 1
            }
        }
        if !text.isEmpty { nodes.append(.text(text)) }
        return (nodes, nil)
    }

    private mutating func parseTag() throws(InputError) -> Tag {
        let start = index
        index += 2
        var inner = ""
        while index < chars.count {
            if chars[index] == "}", index + 1 < chars.count, chars[index + 1] == "}" {
                index += 2
                return try classify(inner.trimmingSpaces(), at: start)
            }
            inner.append(chars[index])
            index += 1
        }
        throw error("'{{' is never closed with '}}'", at: start)
    }

    private func classify(_ inner: String, at position: Int) throws(InputError) -> Tag {
        if inner == "else" { return .otherwise }
        if inner.hasPrefix("/") { return .close(inner) }
        if inner.hasPrefix("#") {
            let words = inner.dropFirst().split(separator: " ", maxSplits: 1)
            guard let keyword = words.first, keyword == "if" || keyword == "unless" else {
                throw error("unknown block '{{\(inner)}}' (blocks: #if, #unless)", at: position)
            }
            guard words.count == 2 else { throw error("'{{#\(keyword)}}' needs a condition", at: position) }
            return .open(negated: keyword == "unless", test: try expression(String(words[1]), at: position))
        }
        guard !inner.isEmpty else { throw error("empty '{{}}'", at: position) }
        return .value(try expression(inner, at: position))
    }

    /// `path`, `helper arg…`, `helper(arg, …)`, with arguments that are paths or quoted strings.
    private func expression(_ text: String, at position: Int) throws(InputError) -> Template.Expression {
        var tokens: [String] = []
        var current = ""
        var quote: Character?
        var sawParenthesis = false
        for character in text {
            if let open = quote {
                current.append(character)
                if character == open { quote = nil }
                continue
            }
            switch character {
            case "\"", "'":
                quote = character
                current.append(character)
            case " ", ",", "(", ")":
                if character == "(" || character == ")" { sawParenthesis = true }
                if !current.isEmpty { tokens.append(current); current = "" }
            default:
                current.append(character)
            }
        }
        if quote != nil { throw error("unterminated string in '{{\(text)}}'", at: position) }
        if !current.isEmpty { tokens.append(current) }
        guard let head = tokens.first else { throw error("empty '{{\(text)}}'", at: position) }
        if tokens.count == 1 && !sawParenthesis { return try operand(head, in: text, at: position) }
        guard Template.helpers.contains(head) else {
            throw error(
                "unknown helper '\(head)' (helpers: \(Template.helpers.sorted().joined(separator: ", ")))", at: position
            )
        }
        var arguments: [Template.Expression] = []
        for token in tokens.dropFirst() { arguments.append(try operand(token, in: text, at: position)) }
        return .helper(name: head, arguments: arguments)
    }

    private func operand(_ token: String, in text: String, at position: Int) throws(InputError) -> Template.Expression {
        if let first = token.first, first == "\"" || first == "'" {
            return .literal(String(token.dropFirst().dropLast()))
        }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let valid = parts.allSatisfy { part in
            !part.isEmpty && part.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "$" }
        }
        guard valid else { throw error("'\(token)' is not a variable name in '{{\(text)}}'", at: position) }
        return .path(parts)
    }

    private func error(_ problem: String, at position: Int) -> InputError {
        var line = 1
        var column = 1
        for character in chars.prefix(position) {
            if character == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return InputError(field: field, problem: "\(problem) at line \(line), column \(column)")
    }
}
