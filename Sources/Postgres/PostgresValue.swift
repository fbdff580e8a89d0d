import Foundation

/// A Swift value that can be sent as a query parameter in PostgreSQL's text format.
public protocol PostgresEncodable: Sendable {
    /// The text representation, or `nil` for SQL NULL.
    var postgresText: String? { get }
}

/// A Swift value that can be read from a column in PostgreSQL's text format.
public protocol PostgresDecodable: Sendable {
    init(postgresText text: String) throws
}

public typealias PostgresCodable = PostgresEncodable & PostgresDecodable

func decodingError<T>(_ type: T.Type, _ text: String) -> PostgresError {
    let sample = text.count > 40 ? String(text.prefix(40)) + "…" : text
    return PostgresError(.decoding, message: "cannot decode '\(sample)' as \(T.self)")
}

extension String: PostgresCodable {
    public var postgresText: String? { self }
    public init(postgresText text: String) { self = text }
}

extension Bool: PostgresCodable {
    public var postgresText: String? { self ? "t" : "f" }
    public init(postgresText text: String) throws {
        switch text {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw decodingError(Bool.self, text)
        }
    }
}

extension PostgresEncodable where Self: FixedWidthInteger {
    public var postgresText: String? { String(self) }
}

extension PostgresDecodable where Self: FixedWidthInteger {
    public init(postgresText text: String) throws {
        guard let value = Self(text) else { throw decodingError(Self.self, text) }
        self = value
    }
}

/// Enumerations stored as text (a `CHECK (state IN (…))` column): a value this binary does not
/// know is a decoding error, never a silent default.
extension PostgresEncodable where Self: RawRepresentable, RawValue == String {
    public var postgresText: String? { rawValue }
}

extension PostgresDecodable where Self: RawRepresentable, RawValue == String {
    public init(postgresText text: String) throws {
        guard let value = Self(rawValue: text) else { throw decodingError(Self.self, text) }
        self = value
    }
}

extension Int16: PostgresCodable {}
extension Int32: PostgresCodable {}
extension Int64: PostgresCodable {}
extension Int: PostgresCodable {}

extension Double: PostgresCodable {
    public var postgresText: String? {
        if isNaN { return "NaN" }
        if isInfinite { return self > 0 ? "Infinity" : "-Infinity" }
        return String(self)
    }
    public init(postgresText text: String) throws {
        switch text {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Double(text) else { throw decodingError(Double.self, text) }
            self = value
        }
    }
}

extension Decimal: PostgresCodable {
    public var postgresText: String? { description }
    public init(postgresText text: String) throws {
        guard let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
            throw decodingError(Decimal.self, text)
        }
        self = value
    }
}

extension UUID: PostgresCodable {
    public var postgresText: String? { uuidString.lowercased() }
    public init(postgresText text: String) throws {
        guard let value = UUID(uuidString: text) else { throw decodingError(UUID.self, text) }
        self = value
    }
}

/// `bytea`: sent and read in hex format (`\x…`).
extension Data: PostgresCodable {
    public var postgresText: String? {
        var text = "\\x"
        text.reserveCapacity(2 + count * 2)
        for byte in self {
            text.append(Self.hexDigits[Int(byte >> 4)])
            text.append(Self.hexDigits[Int(byte & 0xF)])
        }
        return text
    }
    private static let hexDigits = Array("0123456789abcdef")

    public init(postgresText text: String) throws {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else {
            throw decodingError(Data.self, text)
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            guard let high = Self.nibble(utf8[index]), let low = Self.nibble(utf8[index + 1]) else {
                throw decodingError(Data.self, text)
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        self = Data(bytes)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresText: String? { self.flatMap { $0.postgresText } }
}

/// A `json`/`jsonb` value carried as its text. Decode it with `decode(_:)` or build one with `encoding(_:)`.
public struct PostgresJSON: PostgresCodable, Hashable, CustomStringConvertible {
    public var text: String
    public init(text: String) { self.text = text }
    public init(postgresText text: String) { self.text = text }
    public var postgresText: String? { text }
    public var description: String { text }

    public static func encoding<T: Encodable>(_ value: T) throws -> PostgresJSON {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return PostgresJSON(text: String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}
