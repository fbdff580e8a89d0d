/// An error from the database layer.
///
/// `description` is safe to log: it carries the SQLSTATE, the condition and the server's message,
/// but never bind parameters, passwords or the server's `detail` (which may quote row values).
/// Use `detail` explicitly (or `debugDescription`) when debugging.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public enum Kind: String, Sendable {
        /// The connection URL or conninfo string is malformed.
        case invalidConfiguration
        /// The server could not be reached (refused, DNS, timeout).
        case connectionFailed
        /// The server rejected the credentials.
        case authenticationFailed
        /// An established connection broke (server restart, network).
        case connectionLost
        /// The server reported an error for a statement.
        case server
        /// A value could not be decoded into the requested Swift type.
        case decoding
        /// A statement in a pipeline was skipped because an earlier one failed.
        case pipelineAborted
        /// The statement was cancelled (task cancellation).
        case cancelled
        /// No connection became available in time.
        case poolTimeout
        /// The pool was shut down.
        case poolClosed
        /// libpq returned something this wrapper did not expect.
        case protocolViolation
    }

    public var kind: Kind
    /// Five-character SQLSTATE code, when the server sent one.
    public var sqlState: String?
    public var message: String
    /// Server detail; may contain data values, so it is not part of `description`.
    public var detail: String?
    public var hint: String?
    public var constraint: String?

    public init(
        _ kind: Kind, message: String, sqlState: String? = nil, detail: String? = nil, hint: String? = nil,
        constraint: String? = nil
    ) {
        self.kind = kind
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
    }

    /// Serialization failure or deadlock: the whole transaction may simply be run again.
    public var isTransactionRetryable: Bool {
        sqlState == "40001" || sqlState == "40P01"
    }

    /// Worth retrying after a pause: connection problems, lock timeouts, server shutting down or starting.
    public var isTransient: Bool {
        switch kind {
        case .connectionFailed, .connectionLost, .poolTimeout: return true
        default: break
        }
        guard let state = sqlState else { return false }
        return isTransactionRetryable || state == "55P03" || state.hasPrefix("08") || state == "57P01"
            || state == "57P02" || state == "57P03"
    }

    public var description: String {
        var text = "PostgreSQL \(kind.rawValue)"
        if let sqlState { text += " \(sqlState)" }
        if let sqlState, let name = Self.conditionNames[sqlState] { text += " (\(name))" }
        text += ": " + Self.redactingValues(message, sqlState: sqlState)
        if let constraint { text += " [constraint \(constraint)]" }
        return text
    }

    public var debugDescription: String {
        var text = description
        if let detail { text += "; detail: \(detail)" }
        if let hint { text += "; hint: \(hint)" }
        return text
    }

    /// Data exceptions (class 22) echo the offending input in quotes; keep it out of logs.
    /// (Constraint violations, class 23, put values only in `detail`.)
    static func redactingValues(_ message: String, sqlState: String?) -> String {
        guard let sqlState, sqlState.hasPrefix("22") else { return message }
        var out = ""
        var inQuote = false
        for character in message {
            if character == "\"" {
                if !inQuote { out += "\"…" }
                inQuote.toggle()
                if !inQuote { out.append("\"") }
                continue
            }
            if !inQuote { out.append(character) }
        }
        return out
    }

    static let conditionNames: [String: String] = [
        "23505": "unique_violation", "23503": "foreign_key_violation", "23502": "not_null_violation",
        "23514": "check_violation", "22P02": "invalid_text_representation", "22023": "invalid_parameter_value",
        "40001": "serialization_failure", "40P01": "deadlock_detected", "55P03": "lock_not_available",
        "57014": "query_canceled", "57P01": "admin_shutdown", "42P01": "undefined_table",
        "42703": "undefined_column", "42883": "undefined_function", "42601": "syntax_error",
        "3D000": "invalid_catalog_name", "28P01": "invalid_password", "P0001": "raise_exception",
    ]
}
