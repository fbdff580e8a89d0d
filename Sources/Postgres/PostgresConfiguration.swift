import CLibPQ
import Foundation

/// Where and how to connect: parsed from a `postgres://` URL or a libpq `key=value` conninfo string.
///
/// Parsing happens up front so a malformed setting fails at start-up with a message that names the
/// problem; the password never appears in `description` or in any error.
public struct PostgresConfiguration: Sendable, CustomStringConvertible {
    /// libpq connection keywords and values, in order (passed to `PQconnectdbParams`).
    public private(set) var parameters: [(key: String, value: String)]

    public init(parameters: [(key: String, value: String)]) {
        self.parameters = parameters
    }

    /// Parses a `postgres://` / `postgresql://` URL or a `key=value …` conninfo string.
    public init(_ string: String) throws {
        let trimmed = string.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty {
            throw PostgresError(.invalidConfiguration, message: "database URL is empty")
        }
        if let schemeEnd = trimmed.range(of: "://") {
            let scheme = trimmed[..<schemeEnd.lowerBound].lowercased()
            guard scheme == "postgres" || scheme == "postgresql" else {
                throw PostgresError(
                    .invalidConfiguration,
                    message: "database URL scheme '\(scheme)' is not supported; use postgres:// or postgresql://")
            }
            parameters = try URLParser.parse(String(trimmed[schemeEnd.upperBound...]))
        } else if trimmed.contains("=") {
            parameters = try Self.parseConninfo(trimmed)
        } else {
            throw PostgresError(
                .invalidConfiguration,
                message: "database URL must look like postgres://user@host:5432/db or host=… dbname=…")
        }
    }

    /// Returns the value of a libpq keyword, if set.
    public subscript(key: String) -> String? {
        get { parameters.last(where: { $0.key == key })?.value }
        set {
            parameters.removeAll { $0.key == key }
            if let newValue { parameters.append((key, newValue)) }
        }
    }

    /// A copy connecting to another database on the same server.
    public func withDatabase(_ name: String) -> PostgresConfiguration {
        var copy = self
        copy["dbname"] = name
        return copy
    }

    /// The settings as a libpq conninfo string, values quoted (for a child process; it holds the
    /// password, if any: pass it in the environment, never on a command line).
    public var conninfo: String {
        parameters.map { pair in
            let quoted = pair.value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(
                of: "'", with: "\\'")
            return "\(pair.key)='\(quoted)'"
        }.joined(separator: " ")
    }

    /// The settings with the password masked: safe for logs.
    public var description: String {
        parameters.map { pair in
            let value = pair.key == "password" ? "********" : pair.value
            return "\(pair.key)=\(value)"
        }.joined(separator: " ")
    }

    static func parseConninfo(_ string: String) throws -> [(key: String, value: String)] {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(string, &errorMessage) else {
            var message = "malformed conninfo string"
            if let errorMessage {
                // libpq quotes the text it stumbled on, which may be part of a password.
                message +=
                    ": " + Self.unquoted(String(cString: errorMessage).trimmingCharacters(in: .whitespacesAndNewlines))
                PQfreemem(errorMessage)
            }
            throw PostgresError(.invalidConfiguration, message: message)
        }
        defer { PQconninfoFree(options) }
        var result: [(key: String, value: String)] = []
        var cursor = options
        while let keyword = cursor.pointee.keyword {
            if let value = cursor.pointee.val {
                result.append((String(cString: keyword), String(cString: value)))
            }
            cursor += 1
        }
        return result
    }

    /// `missing "=" after "S3cret" in connection info string` → `missing "=" after "…" in …`.
    static func unquoted(_ message: String) -> String {
        var out = ""
        var inQuote = false
        for character in message {
            if character == "\"" {
                out.append(character)
                if !inQuote { out += "…" }
                inQuote.toggle()
            } else if !inQuote {
                out.append(character)
            }
        }
        return out
    }

    /// Keywords libpq knows, for validating URL query parameters before connecting.
    static let knownKeywords: Set<String> = {
        var names = Set<String>()
        guard let defaults = PQconndefaults() else { return names }
        defer { PQconninfoFree(defaults) }
        var cursor = defaults
        while let keyword = cursor.pointee.keyword {
            names.insert(String(cString: keyword))
            cursor += 1
        }
        return names
    }()
}
