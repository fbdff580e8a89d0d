/// One-dimensional arrays (`text[]`, `int8[]`, `jsonb[]`, …) in PostgreSQL's text array format.
/// Every element is quoted when sent, so any element type whose text form is valid works.
extension Array: PostgresEncodable where Element: PostgresEncodable {
    /// Built as UTF-8 bytes: a quote or a backslash is never part of a multi-byte sequence, so
    /// escaping bytes is escaping characters, and an element with neither is copied whole. (Per
    /// character, this was 16% of a worker's CPU while draining: every finish sends its batch's
    /// results as arrays.) Inlinable, so it is specialised for the element types a statement
    /// binds instead of running generically.
    @inlinable
    public var postgresText: String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(2 + count * 8)
        bytes.append(UInt8(ascii: "{"))
        var first = true
        for element in self {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            guard let value = element.postgresText else {
                bytes.append(contentsOf: "NULL".utf8)
                continue
            }
            bytes.append(UInt8(ascii: "\""))
            let utf8 = value.utf8
            if !utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                bytes.append(contentsOf: utf8)
            } else {
                for byte in utf8 {
                    if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                    bytes.append(byte)
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Array: PostgresDecodable where Element: PostgresDecodable {
    public init(postgresText text: String) throws {
        self = try PostgresArrayParser.parse(text).map { item in
            guard let item else {
                if let nullable = Element.self as? any NullRepresentable.Type, let null = nullable.null as? Element {
                    return null
                }
                throw PostgresError(.decoding, message: "array element is NULL; decode as [\(Element.self)?]")
            }
            return try Element(postgresText: item)
        }
    }
}

/// An array element that may be NULL, e.g. `[Nullable<String>]` for `text[]` with NULLs.
public struct Nullable<Wrapped: PostgresCodable>: PostgresCodable, NullRepresentable {
    public static var null: Nullable { Nullable(nil) }
    public var value: Wrapped?
    public init(_ value: Wrapped?) { self.value = value }
    public init(postgresText text: String) throws { value = try Wrapped(postgresText: text) }
    public var postgresText: String? { value?.postgresText }
}

enum PostgresArrayParser {
    /// Parses `{a,"b c",NULL}`; returns `nil` for NULL elements.
    static func parse(_ text: String) throws -> [String?] {
        var chars = Array(text.unicodeScalars)[...]
        // Arrays with explicit bounds (`[0:1]={…}`) start with a dimension decoration.
        if chars.first == "[", let eq = chars.firstIndex(of: "=") { chars = chars[(eq + 1)...] }
        guard chars.first == "{", chars.last == "}" else { throw decodingError([String].self, text) }
        chars = chars.dropFirst().dropLast()
        var items: [String?] = []
        if chars.isEmpty { return items }
        var current = String.UnicodeScalarView()
        var quoted = false
        var wasQuoted = false
        var escaped = false
        for scalar in chars {
            if escaped {
                current.append(scalar)
                escaped = false
            } else if scalar == "\\" {
                escaped = true
            } else if scalar == "\"" {
                quoted.toggle()
                wasQuoted = true
            } else if scalar == "," && !quoted {
                items.append(finish(current, wasQuoted))
                current = String.UnicodeScalarView()
                wasQuoted = false
            } else if scalar == "{" && !quoted {
                throw PostgresError(.decoding, message: "multi-dimensional arrays are not supported")
            } else {
                current.append(scalar)
            }
        }
        items.append(finish(current, wasQuoted))
        return items
    }

    private static func finish(_ scalars: String.UnicodeScalarView, _ wasQuoted: Bool) -> String? {
        let value = String(scalars)
        if !wasQuoted && value == "NULL" { return nil }
        return value
    }
}

/// Element types that can stand for an SQL NULL inside an array.
public protocol NullRepresentable {
    static var null: Self { get }
}
