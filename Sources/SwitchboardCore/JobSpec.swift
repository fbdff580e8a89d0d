import Foundation

/// Validation rules for a job's identifying fields, shared by every way of enqueueing (API, CLI,
/// COPY) so bad input is refused before anything is written. The database has the same rules as
/// CHECK constraints, as the last line of defence for producers writing plain SQL.
public enum JobSpec {
    public static let defaultQueue = "default"
    public static let defaultPriority = 100
    public static let priorityRange = 0...1000
    public static let defaultMaxAttempts = 20
    public static let maxAttemptsRange = 1...1000

    /// Refuses fields a request type does not have (typos), naming the first one.
    public static func checkFields(_ object: [String: JSONValue], allowed: Set<String>, what: String)
        throws(InputError)
    {
        for key in object.keys.sorted() where !allowed.contains(key) {
            throw InputError(
                field: key, problem: "is not a field of \(what) (fields: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    /// Kind and queue names: lower-case letter first, then up to 63 of `a-z 0-9 _ . -`.
    public static func validateName(_ value: String, field: String) throws(InputError) {
        guard !value.isEmpty else { throw InputError(field: field, problem: "must not be empty") }
        guard value.utf8.count <= 64 else {
            throw InputError(field: field, problem: "'\(value.prefix(20))…' is longer than 64 characters")
        }
        let bytes = Array(value.utf8)
        let isLower = { (b: UInt8) in b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z") }
        let isDigit = { (b: UInt8) in b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        guard isLower(bytes[0]) else {
            throw InputError(field: field, problem: "'\(value)' must start with a lower-case letter")
        }
        for byte in bytes
        where
            !(isLower(byte) || isDigit(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            || byte == UInt8(ascii: "-"))
        {
            throw InputError(
                field: field,
                problem:
                    "'\(value)' may contain only a-z, 0-9, '_', '.' and '-' (found '\(Character(Unicode.Scalar(byte)))')"
            )
        }
    }

    public static func validatePriority(_ value: Int) throws(InputError) {
        guard priorityRange.contains(value) else {
            throw InputError(
                field: "priority",
                problem: "\(value) is outside \(priorityRange.lowerBound)…\(priorityRange.upperBound)")
        }
    }

    public static func validateMaxAttempts(_ value: Int) throws(InputError) {
        guard maxAttemptsRange.contains(value) else {
            throw InputError(
                field: "max_attempts",
                problem: "\(value) is outside \(maxAttemptsRange.lowerBound)…\(maxAttemptsRange.upperBound)")
        }
    }

    public static func validateIdempotencyKey(_ value: String?) throws(InputError) {
        guard let value else { return }
        guard !value.isEmpty, value.utf8.count <= 255 else {
            throw InputError(field: "idempotency_key", problem: "must be 1 to 255 bytes long")
        }
    }

    /// Decodes a payload; a missing or mistyped field is an error naming it.
    public static func decode<T: Decodable>(_ type: T.Type, _ payload: String) throws(InputError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(payload.utf8))
        } catch let DecodingError.keyNotFound(key, _) {
            throw InputError(field: key.stringValue, problem: "is required")
        } catch let DecodingError.typeMismatch(expected, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw InputError(field: path.isEmpty ? "payload" : path, problem: "must be \(describe(expected))")
        } catch let DecodingError.valueNotFound(expected, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw InputError(field: path.isEmpty ? "payload" : path, problem: "must be \(describe(expected)), not null")
        } catch {
            throw InputError(field: "payload", problem: "cannot be read: \(error)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Bool.Type: "true or false"
        default: "\(type)"
        }
    }
}
