/// Message templates in the Handlebars subset workflows use:
///
///     Hi {{customerName}}! Order #{{order.number}} has shipped.
///     {{#if trackingNumber}}Track it: {{trackingNumber}}{{else}}Tracking follows.{{/if}}
///     {{#unless optedIn}}Reply START to subscribe.{{/unless}}
///     {{formatPhoneNumber rawPhone}}  or  {{formatPhoneNumber(rawPhone)}}
///
/// Strict by default: a variable that is missing is an error naming it (nobody wants
/// "Hi {{name}}" delivered). Inside `#if`/`#unless` a missing variable is simply false.
public struct Template: Sendable, Equatable {
    indirect enum Node: Sendable, Equatable {
        case text(String)
        case value(Expression)
        case conditional(negated: Bool, test: Expression, then: [Node], otherwise: [Node])
    }

    enum Expression: Sendable, Equatable {
        case path([String])
        case literal(String)
        case helper(name: String, arguments: [Expression])
    }

    let nodes: [Node]
    public let source: String

    /// Helpers available as `{{name arg…}}` or `{{name(arg, …)}}`.
    public static let helpers: Set<String> = ["formatPhoneNumber", "upper", "lower", "default", "trim", "link"]

    /// Where a campaign's import puts each recipient's short links for `{{link "url"}}`: an
    /// object from each URL to its short link.
    public static let linksVariable = "__links"

    /// Parses `source`; syntax errors name `field` and the position.
    public init(_ source: String, field: String = "template") throws(InputError) {
        self.source = source
        var parser = TemplateParser(source: source, field: field)
        nodes = try parser.parseAll()
    }

    /// Calls `visit` with every top-level expression: values and `#if`/`#unless` tests, in order.
    private func forEachExpression(_ visit: (Expression) -> Void) {
        func walk(_ nodes: [Node]) {
            for node in nodes {
                switch node {
                case .text: break
                case .value(let expression): visit(expression)
                case .conditional(_, let test, let then, let otherwise):
                    visit(test)
                    walk(then)
                    walk(otherwise)
                }
            }
        }
        walk(nodes)
    }

    /// Variables the template refers to (for error messages and documentation).
    public var variables: Set<String> {
        var names = Set<String>()
        func visit(_ expression: Expression) {
            switch expression {
            case .path(let path): names.insert(path.joined(separator: "."))
            case .literal: break
            case .helper(_, let arguments): arguments.forEach(visit)
            }
        }
        forEachExpression(visit)
        return names
    }

    /// The URLs given to `{{link …}}`, in order of appearance (each once). They must be written
    /// in quotes: a short link is made per URL when the campaign is imported, not per recipient.
    public func linkURLs(field: String = "body") throws(InputError) -> [String] {
        var urls: [String] = []
        var problem: InputError?
        func visit(_ expression: Expression) {
            guard case .helper(let name, let arguments) = expression else { return }
            if name == "link" {
                guard arguments.count == 1, case .literal(let url) = arguments[0] else {
                    problem =
                        problem
                        ?? InputError(
                            field: field,
                            problem: "link takes one URL in quotes, e.g. {{link \"https://example.com/sale\"}}")
                    return
                }
                guard Self.isLinkable(url) else {
                    problem =
                        problem ?? InputError(field: field, problem: "link: '\(url.prefix(80))' is not an http(s) URL")
                    return
                }
                if !urls.contains(url) { urls.append(url) }
            }
            arguments.forEach(visit)
        }
        forEachExpression(visit)
        if let problem { throw problem }
        return urls
    }

    /// An http(s) URL with a host, at most 2048 characters, no spaces or control characters.
    static func isLinkable(_ url: String) -> Bool {
        url.count <= 2048 && !url.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 }
            && HTTPURL.isHTTP(url)
    }

    /// `source` with every http(s) URL in its text (outside tags) wrapped in `{{link "…"}}`
    /// (`campaign create --shorten-urls`). A URL ends at a space, a quote or a brace; a final
    /// `.`, `,`, `;`, `:`, `!`, `?` or `)` is taken for punctuation.
    public static func shorteningURLs(in source: String) -> String {
        var out = ""
        var rest = Substring(source)
        while let start = rest.range(of: "http", options: [.caseInsensitive]) {
            // Inside a tag: copy through its end untouched.
            let before = rest[..<start.lowerBound]
            if let open = before.range(of: "{{", options: .backwards),
                before[open.upperBound...].range(of: "}}") == nil,
                let close = rest[open.upperBound...].range(of: "}}")
            {
                out += rest[..<close.upperBound]
                rest = rest[close.upperBound...]
                continue
            }
            out += before
            var end =
                rest[start.lowerBound...].firstIndex { $0.isWhitespace || "\"'{}<>".contains($0) } ?? rest.endIndex
            var url = rest[start.lowerBound..<end]
            while let last = url.last, ".,;:!?)".contains(last) {
                url = url.dropLast()
                end = url.endIndex
            }
            if isLinkable(String(url)) {
                out += "{{link \"\(url)\"}}"
            } else {
                out += url
            }
            rest = rest[end...]
        }
        return out + rest
    }

    /// Renders with `variables`; a missing variable or a helper failure is an error naming `field`.
    /// The text when the template has no tags (it renders the same for every variable set).
    public var constantText: String? {
        if nodes.isEmpty { return "" }
        if nodes.count == 1, case .text(let text) = nodes[0] { return text }
        return nil
    }

    public func render(_ variables: [String: JSONValue], field: String = "template") throws(InputError) -> String {
        var out = ""
        try render(nodes, variables, field, into: &out)
        return out
    }

    private func render(_ nodes: [Node], _ variables: [String: JSONValue], _ field: String, into out: inout String)
        throws(InputError)
    {
        for node in nodes {
            switch node {
            case .text(let text):
                out += text
            case .value(let expression):
                out += try evaluate(expression, variables, field, strict: true).description
            case .conditional(let negated, let test, let then, let otherwise):
                let truthy = try evaluate(test, variables, field, strict: false).isTruthy
                try render(truthy != negated ? then : otherwise, variables, field, into: &out)
            }
        }
    }

    private func evaluate(
        _ expression: Expression, _ variables: [String: JSONValue], _ field: String, strict: Bool
    ) throws(InputError) -> JSONValue {
        switch expression {
        case .literal(let text):
            return .string(text)
        case .path(let path):
            var value: JSONValue? = variables[path[0]]
            for key in path.dropFirst() { value = value?[key] }
            guard let value else {
                if !strict { return .null }
                throw InputError(field: field, problem: "variable '\(path.joined(separator: "."))' is missing")
            }
            return value
        case .helper(let name, let arguments):
            // `default` tolerates a missing first argument: that is its purpose.
            let values = try arguments.enumerated().map { (index, argument) throws(InputError) in
                try evaluate(argument, variables, field, strict: strict && !(name == "default" && index == 0))
            }
            if name == "link" {
                // The import's short link for this URL and recipient.
                let url = values.first?.description ?? ""
                guard let links = variables[Self.linksVariable] else {
                    throw InputError(
                        field: field,
                        problem:
                            "link: tracked links are made for campaigns (switchboard campaign create --link-base-url); this message is not one"
                    )
                }
                guard let short = links[url] else {
                    throw InputError(field: field, problem: "link: no short link was made for '\(url.prefix(80))'")
                }
                return short
            }
            return try Self.apply(helper: name, values, field: field)
        }
    }

    private static func apply(helper name: String, _ values: [JSONValue], field: String) throws(InputError) -> JSONValue
    {
        func argument(_ index: Int) throws(InputError) -> JSONValue {
            guard index < values.count else {
                throw InputError(field: field, problem: "helper '\(name)' needs \(index + 1) argument(s)")
            }
            return values[index]
        }
        switch name {
        case "formatPhoneNumber":
            return .string(try PhoneNumber.normalise(try argument(0).description, field: field).e164)
        case "upper": return .string(try argument(0).description.uppercased())
        case "lower": return .string(try argument(0).description.lowercased())
        case "trim": return .string(try argument(0).description.trimmingSpaces())
        case "default":
            let first = try argument(0)
            return first.isTruthy ? first : try argument(1)
        default:
            throw InputError(field: field, problem: "unknown helper '\(name)'")
        }
    }
}

/// Text in several languages with a fallback: `{"en": "Hello", "es": "Hola"}`.
public struct LocalizedText: Sendable, Equatable {
    public var texts: [String: String]
    public var defaultLanguage: String

    public init(_ texts: [String: String], defaultLanguage: String = "en") {
        self.texts = texts
        self.defaultLanguage = defaultLanguage
    }

    /// The text for `language` (`es-MX`), else its base language (`es`), else the default.
    public func text(for language: String?, field: String) throws(InputError) -> String {
        var candidates: [String] = []
        if let language {
            candidates.append(language)
            if let base = language.split(separator: "-").first { candidates.append(String(base)) }
        }
        candidates.append(defaultLanguage)
        for candidate in candidates {
            if let text = texts[candidate]
                ?? texts.first(where: { $0.key.lowercased() == candidate.lowercased() })?.value
            {
                return text
            }
        }
        throw InputError(
            field: field,
            problem:
                "no text for language '\(language ?? defaultLanguage)' nor the default '\(defaultLanguage)' (have: \(texts.keys.sorted().joined(separator: ", ")))"
        )
    }
}
