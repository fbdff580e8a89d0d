/// A phone number in E.164 form (`+` country code, national number; at most 15 digits), with its
/// country calling code identified.
public struct PhoneNumber: Hashable, Sendable, Codable, CustomStringConvertible {
    /// `+15551234567`
    public let e164: String
    /// The country calling code, e.g. 1, 44, 351.
    public let countryCode: Int
    /// The digits after the country code.
    public let nationalNumber: String

    public var description: String { e164 }

    /// True for the North American Numbering Plan (+1: US, Canada, Caribbean).
    public var isNANP: Bool { countryCode == 1 }

    /// The NANP area code (`555` of `+15551234567`), `nil` outside +1.
    public var areaCode: String? { isNANP ? String(nationalNumber.prefix(3)) : nil }

    /// ISO 3166 regions sharing this country calling code (for +1 and +7, several).
    public var regions: [String] { CountryCallingCodes.regions[countryCode] ?? [] }

    /// Parses a number written in E.164 (`+15551234567`). Spaces, dots, dashes and parentheses
    /// between digits are ignored, and a leading international prefix `00` is read as `+`.
    /// `field` names the input in errors (`to`, `from`, …).
    public init(parsing raw: String, field: String) throws(InputError) {
        let trimmed = raw.trimmingSpaces()
        func invalid(_ reason: String) -> InputError {
            InputError(field: field, problem: "'\(raw)' is not a valid E.164 number: \(reason)")
        }
        guard !trimmed.isEmpty else {
            throw InputError(field: field, problem: "is empty; expected an E.164 number such as +15551234567")
        }
        // On UTF-8 bytes (numbers are ASCII; a phone number per row of an import made this a fifth
        // of its CPU when it walked Characters). Any other byte is refused, naming its character.
        var digitBytes: [UInt8] = []
        digitBytes.reserveCapacity(16)
        var sawPlus = false
        for (index, byte) in trimmed.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "+") where index == 0: sawPlus = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digitBytes.append(byte)
            case UInt8(ascii: " "), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "("), UInt8(ascii: ")"):
                continue
            default:
                let offending = trimmed.unicodeScalars.enumerated().first { index, scalar in
                    !(scalar == "+" && index == 0) && !("0"..."9").contains(scalar)
                        && !" -.()".unicodeScalars.contains(scalar)
                }
                throw invalid("unexpected character '\(offending.map { String($0.element) } ?? "")'")
            }
        }
        var digits = String(decoding: digitBytes, as: UTF8.self)
        if !sawPlus {
            guard digits.hasPrefix("00") else {
                throw invalid("it must start with + and the country code, e.g. +15551234567")
            }
            digits.removeFirst(2)
        }
        guard digits.count >= 7 else { throw invalid("too short") }
        guard digits.count <= 15 else { throw invalid("too long (E.164 allows at most 15 digits)") }
        guard let code = CountryCallingCodes.match(digits) else {
            throw invalid("no country calling code starts with \(digits.prefix(3))")
        }
        let national = String(digits.dropFirst(String(code).count))
        if code == 1 {
            guard national.count == 10 else {
                throw invalid(
                    national.count < 10
                        ? "too short (+1 numbers have 10 digits after +1)"
                        : "too long (+1 numbers have 10 digits after +1)")
            }
            let area = national.prefix(3)
            guard let first = area.first, first >= "2" else {
                throw invalid("area code \(area) is not valid (it must start with 2–9)")
            }
            // The exchange digit is not checked: the workflow examples users copy (+15551234567)
            // would fail it, and Twilio answers a truly unroutable number with 21211 anyway.
        } else if national.count < 4 {
            throw invalid("too short")
        }
        e164 = "+" + digits
        countryCode = code
        nationalNumber = national
    }

    /// The `formatPhoneNumber` template helper: normalises a loosely written number to E.164.
    /// Ten digits are read as a +1 (NANP) number, as are eleven starting with 1; anything with a
    /// `+` or `00` prefix is parsed as written.
    public static func normalise(_ raw: String, field: String) throws(InputError) -> PhoneNumber {
        let trimmed = raw.trimmingSpaces()
        if trimmed.hasPrefix("+") || trimmed.hasPrefix("00") { return try PhoneNumber(parsing: trimmed, field: field) }
        let digits = trimmed.filter(\.isASCIIDigit)
        let separatorsOnly = trimmed.allSatisfy { $0.isASCIIDigit || " -.()".contains($0) }
        if separatorsOnly && digits.count == 10 { return try PhoneNumber(parsing: "+1" + digits, field: field) }
        if separatorsOnly && digits.count == 11 && digits.hasPrefix("1") {
            return try PhoneNumber(parsing: "+" + digits, field: field)
        }
        return try PhoneNumber(parsing: trimmed, field: field)
    }
}

/// Where a message goes or comes from: a phone number (SMS, voice) or a WhatsApp address
/// (`whatsapp:+15551234567`).
public enum ChannelAddress: Hashable, Sendable, CustomStringConvertible {
    case phone(PhoneNumber)
    case whatsapp(PhoneNumber)

    public init(parsing raw: String, field: String) throws(InputError) {
        let trimmed = raw.trimmingSpaces()
        if trimmed.utf8.first != UInt8(ascii: "+"), trimmed.lowercased().hasPrefix("whatsapp:") {
            self = .whatsapp(try PhoneNumber(parsing: String(trimmed.dropFirst("whatsapp:".count)), field: field))
        } else {
            self = .phone(try PhoneNumber(parsing: trimmed, field: field))
        }
    }

    public var number: PhoneNumber {
        switch self {
        case .phone(let number), .whatsapp(let number): number
        }
    }

    public var isWhatsApp: Bool {
        if case .whatsapp = self { return true }
        return false
    }

    /// As Twilio expects it: `+1555…` or `whatsapp:+1555…`.
    public var description: String {
        switch self {
        case .phone(let number): number.e164
        case .whatsapp(let number): "whatsapp:" + number.e164
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension PhoneNumber {
    /// A number written as a template (`"{{customerPhone}}"`, `"+1{{areaCode}}{{phone}}"`), rendered
    /// with the job's variables and then parsed; errors name `field`.
    public init(template: String, variables: [String: JSONValue], field: String) throws(InputError) {
        try self.init(parsing: try Template(template, field: field).render(variables, field: field), field: field)
    }
}
