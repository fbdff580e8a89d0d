/// An SQL statement with its parameters. String interpolation turns every `\(value)` into a bind
/// parameter (`$1`, `$2`, …), so values are never spliced into SQL text:
///
///     let query: PostgresQuery = "SELECT id FROM switchboard.jobs WHERE kind = \(kind) AND priority < \(limit)"
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public var sql: String
    public var binds: [String?]

    /// SQL with `$n` placeholders already written and their values in order.
    public init(unsafeSQL sql: String, binds: [String?] = []) {
        self.sql = sql
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, binds: stringInterpolation.binds)
    }

    /// The SQL only: parameters stay out of logs.
    public var description: String { sql }

    public struct StringInterpolation: StringInterpolationProtocol {
        // Usable from inline code: the interpolations below are specialised where a statement is
        // written (a worker's finish binds ten arrays per batch; generic, their encoding was a
        // tenth of its CPU).
        @usableFromInline var sql = ""
        @usableFromInline var binds: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        @inlinable
        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            binds.append(value.postgresText)
            sql += "$\(binds.count)"
        }

        @inlinable
        public mutating func appendInterpolation(_ value: (some PostgresEncodable)?) {
            binds.append(value?.postgresText)
            sql += "$\(binds.count)"
        }

        /// Splices trusted SQL text (an identifier or keyword chosen by our code, never user input).
        public mutating func appendInterpolation(unescaped text: String) {
            sql += text
        }
    }
}
