/// SMS segment counting as Twilio does it (the message-segment-calculator's algorithm).
///
/// A segment holds 1120 bits. GSM-7 characters cost 7 bits (14 for the extension table:
/// `€ [ ] { } \ ^ ~ |` and form feed); a single character outside GSM-7 turns the whole message
/// into UCS-2, where each UTF-16 unit costs 16 bits (emoji outside the BMP cost 32). A message
/// longer than one segment carries a 48-bit header in every segment (153 GSM-7 / 67 UCS-2
/// characters), and no character (escape pair, surrogate pair, flag, ZWJ sequence) is split.
public enum SMSEncoding: String, Sendable, Codable {
    case gsm7 = "GSM-7"
    case ucs2 = "UCS-2"
}

public struct SegmentCount: Sendable, Equatable {
    public var encoding: SMSEncoding
    public var segments: Int
    /// User-perceived characters (grapheme clusters; `\r\n` counts as two).
    public var characters: Int
    /// The body that is actually sent (after smart encoding, if enabled).
    public var body: String
}

public enum Segments {
    /// Twilio refuses longer bodies (error 21617).
    public static let maximumCharacters = 1600
    static let segmentBits = 1120
    static let headerBits = 48

    public static func count(_ body: String, smartEncoding: Bool = false) -> SegmentCount {
        // Plain ASCII (most campaign bodies): a byte is a character. Counted on bytes, it is the
        // same count without a grapheme walk (a body per row made the walk a seventh of an
        // import's CPU). Smart Encoding replaces two ASCII characters (` and tab): not here.
        let bytes = body.utf8
        if bytes.allSatisfy({ $0 < 0x80 }),
            !smartEncoding || !bytes.contains(where: { $0 == UInt8(ascii: "`") || $0 == UInt8(ascii: "\t") })
        {
            return countASCII(body)
        }
        return countGraphemes(body, smartEncoding: smartEncoding)
    }

    /// `count` for any text, a grapheme cluster at a time.
    static func countGraphemes(_ body: String, smartEncoding: Bool) -> SegmentCount {
        let text = smartEncoding ? SmartEncoding.apply(body) : body
        let characters = graphemes(text)
        let isGSM = characters.allSatisfy { character in
            character.utf16.count == 1 && GSM7.cost(of: character.utf16.first!) != nil
        }
        let costs: [Int] = characters.map { character in
            isGSM ? 7 * GSM7.cost(of: character.utf16.first!)! : 16 * character.utf16.count
        }
        return SegmentCount(
            encoding: isGSM ? .gsm7 : .ucs2, segments: segments(costs), characters: characters.count, body: text)
    }

    /// `count` for a body of ASCII bytes only (each one character; `\r\n` is two, as the
    /// calculator counts it).
    static func countASCII(_ text: String) -> SegmentCount {
        let bytes = text.utf8
        let isGSM = bytes.allSatisfy { GSM7.asciiCost[Int($0)] > 0 }
        let costs = bytes.lazy.map { isGSM ? 7 * Int(GSM7.asciiCost[Int($0)]) : 16 }
        return SegmentCount(
            encoding: isGSM ? .gsm7 : .ucs2, segments: segments(costs), characters: bytes.count, body: text)
    }

    /// Segments for characters costing `costs` bits each: one when they fit a single message,
    /// else parts that leave room for the concatenation header, never splitting a character.
    static func segments(_ costs: some Sequence<Int>) -> Int {
        guard costs.reduce(0, +) > segmentBits else { return 1 }
        let capacity = segmentBits - headerBits
        var segments = 1
        var used = 0
        for cost in costs {
            if used + cost > capacity {
                segments += 1
                used = 0
            }
            used += cost
        }
        return segments
    }

    /// Checks the body against Twilio's limits; the error names the field.
    public static func validate(_ body: String, field: String = "body", smartEncoding: Bool = false) throws(InputError)
        -> SegmentCount
    {
        let count = count(body, smartEncoding: smartEncoding)
        guard count.characters > 0, !body.allSatisfy(\.isWhitespace) else {
            throw InputError(field: field, problem: "is empty")
        }
        guard count.characters <= maximumCharacters else {
            throw InputError(
                field: field,
                problem: "\(count.characters) characters is more than Twilio's limit of \(maximumCharacters)")
        }
        return count
    }

    /// Grapheme clusters, with `\r\n` split into its two characters as the calculator does.
    static func graphemes(_ text: String) -> [Character] {
        var result: [Character] = []
        result.reserveCapacity(text.count)
        for character in text {
            if character == "\r\n" {
                result.append("\r")
                result.append("\n")
            } else {
                result.append(character)
            }
        }
        return result
    }
}

/// The GSM 03.38 default alphabet and its extension table.
enum GSM7 {
    /// Septets for a UTF-16 unit: 1 (basic), 2 (extension), or nil when not in GSM-7.
    static func cost(of unit: UInt16) -> Int? {
        if basic.contains(unit) { return 1 }
        if extended.contains(unit) { return 2 }
        return nil
    }

    static let basic: Set<UInt16> = Set(
        ("\n\r !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
            + "¡£¤¥§¿ÄÅÆÉÑÖØÜßàäåæÇèéìñòöøùüΓΔΘΛΞΠΣΦΨΩ").utf16)
    static let extended: Set<UInt16> = Set("\u{0C}[\\]^{|}~€".utf16)

    /// Septets per ASCII byte (0 where the byte is not in GSM-7), from the two sets above.
    static let asciiCost: [UInt8] = (0..<128).map { UInt8(cost(of: UInt16($0)) ?? 0) }
}

/// Twilio's Smart Encoding: Unicode look-alikes replaced by GSM-7 characters, so a stray curly
/// quote does not turn a message into UCS-2 (and double its segments).
public enum SmartEncoding {
    public static func apply(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if let replacement = map[scalar] {
                out += replacement
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static let map: [Unicode.Scalar: String] = {
        var table: [Unicode.Scalar: String] = [:]
        for scalar in "«»“”„‟″‶〝〞＂".unicodeScalars { table[scalar] = "\"" }
        for scalar in "‘’‚‛′‵´`＇".unicodeScalars { table[scalar] = "'" }
        for scalar in "‐‑‒–—―−﹘﹣－".unicodeScalars { table[scalar] = "-" }
        for scalar
            in "\u{00A0}\u{2000}\u{2001}\u{2002}\u{2003}\u{2004}\u{2005}\u{2006}\u{2007}\u{2008}\u{2009}\u{200A}\u{202F}\u{205F}\u{3000}"
            .unicodeScalars
        {
            table[scalar] = " "
        }
        for scalar in "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}\u{00AD}".unicodeScalars { table[scalar] = "" }
        table["…"] = "..."
        table["\t"] = "       "
        table["•"] = "-"
        table["½"] = "1/2"
        table["¼"] = "1/4"
        table["¾"] = "3/4"
        table["‹"] = "<"
        table["›"] = ">"
        table["˜"] = "~"
        table["ˆ"] = "^"
        table["⁄"] = "/"
        table["∕"] = "/"
        table["ǀ"] = "|"
        table["‖"] = "||"
        // Full-width ASCII (U+FF01…U+FF5E) to ASCII.
        for value in UInt32(0xFF01)...UInt32(0xFF5E) {
            if let scalar = Unicode.Scalar(value), table[scalar] == nil, let ascii = Unicode.Scalar(value - 0xFEE0) {
                table[scalar] = String(Character(ascii))
            }
        }
        return table
    }()
}
