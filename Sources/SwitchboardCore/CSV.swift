import Foundation

/// CSV as Excel, Google Sheets and Python's csv module write it (RFC 4180): comma-separated fields,
/// optionally in double quotes ("" inside quotes is a quote), lines ending in LF or CRLF, a quoted
/// field may contain line breaks, and the file may start with a UTF-8 byte-order mark.
enum CSV {
    /// Splits `text` into fields; `open` when a quoted field is still open at its end.
    static func parse(_ text: String) -> (fields: [String], open: Bool) {
        var fields: [String] = []
        var current = ""
        var quoted = false
        // Scalars, not Characters: "\r\n" is one Character, and a quote followed by a combining
        // mark would be too.
        var iterator = Array(text.unicodeScalars)[...]
        while let scalar = iterator.popFirst() {
            if quoted {
                if scalar == "\"" {
                    if iterator.first == "\"" {
                        current.unicodeScalars.append("\"")
                        iterator.removeFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    current.unicodeScalars.append(scalar)
                }
            } else if scalar == "\"" && current.unicodeScalars.allSatisfy({ $0 == " " || $0 == "\t" }) {
                // `a, "b,c"`: a space after the comma does not stop the quote from opening.
                current = ""
                quoted = true
            } else if scalar == "," {
                fields.append(trimmed(current))
                current = ""
            } else {
                current.unicodeScalars.append(scalar)
            }
        }
        fields.append(quoted ? current : trimmed(current))
        return (fields, quoted)
    }

    /// The field without spaces and tabs around it (`.whitespaces`). Most fields have none: they
    /// are returned as they are, without Foundation's trimming (a tenth of a large import's time).
    static func trimmed(_ field: String) -> String {
        guard let first = field.utf8.first, let last = field.utf8.last else { return field }
        func plain(_ byte: UInt8) -> Bool { byte < 0x80 && byte != UInt8(ascii: " ") && byte != 9 }
        if plain(first) && plain(last) { return field }
        return field.trimmingCharacters(in: .whitespaces)
    }

    /// The line without a trailing LF, CRLF or CR.
    /// On UTF-8 bytes: a line feed or carriage return is never part of a multi-byte sequence, so
    /// dropping them leaves valid text (rebuilding the scalar view was a tenth of an import's CPU).
    static func withoutLineEnding(_ line: String) -> String {
        var bytes = line.utf8[...]
        if bytes.last == UInt8(ascii: "\n") { bytes = bytes.dropLast() }
        if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
        return bytes.count == line.utf8.count ? line : String(decoding: bytes, as: UTF8.self)
    }
}

/// Groups the lines of a CSV file into records, one line at a time (a file of millions of rows is
/// never held whole). A line break inside a quoted field belongs to the field; blank lines between
/// records are skipped; a byte-order mark before the first record is dropped.
///
/// A quoted field still open after `maximumLinesPerRecord` lines (or at the end of the file) is a
/// stray quote, not a field: that record is refused, naming its first line, and the lines after its
/// first are read again as records of their own, so one mistake costs one row, not the rest of the
/// file.
public struct CSVRecordReader: Sendable {
    public enum Item: Sendable, Equatable {
        /// A record and the line it starts on.
        case record([String], line: Int)
        case invalid(line: Int, InputError)
    }

    public static let maximumLinesPerRecord = 20

    /// Lines of the record being read (a quoted field is open across them).
    private var pending: [String] = []
    private var startLine: Int
    private var atStartOfFile: Bool

    public init() {
        self.init(firstLine: 1, atStartOfFile: true)
    }

    /// Every record of a whole file's text.
    public static func items(in text: String) -> [Item] {
        var reader = CSVRecordReader()
        var items = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).flatMap {
            reader.add(String(String.UnicodeScalarView($0)))
        }
        items += reader.finish()
        return items
    }

    private init(firstLine: Int, atStartOfFile: Bool) {
        startLine = firstLine
        self.atStartOfFile = atStartOfFile
    }

    /// Reads the next line of the file (with or without its line ending).
    public mutating func add(_ line: String) -> [Item] {
        var text = CSV.withoutLineEnding(line)
        if atStartOfFile {
            atStartOfFile = false
            if text.unicodeScalars.first == "\u{FEFF}" { text.unicodeScalars.removeFirst() }
        }
        if pending.isEmpty && text.unicodeScalars.allSatisfy({ $0 == " " || $0 == "\t" }) {
            startLine += 1
            return []
        }
        pending.append(text)
        // Most records are one line: joined only when a quoted field spans lines.
        let parsed = CSV.parse(pending.count == 1 ? text : pending.joined(separator: "\n"))
        if !parsed.open {
            let item = Item.record(parsed.fields, line: startLine)
            startLine += pending.count
            pending = []
            return [item]
        }
        guard pending.count >= Self.maximumLinesPerRecord else { return [] }
        return strayQuote(
            "has a quoted field that is not closed within \(Self.maximumLinesPerRecord) lines (a stray '\"'?)")
    }

    /// The end of the file: a record still open there is refused.
    public mutating func finish() -> [Item] {
        guard !pending.isEmpty else { return [] }
        var items = strayQuote("has a quoted field that is never closed")
        items += finish()
        return items
    }

    /// Refuses the open record and reads its lines after the first again.
    private mutating func strayQuote(_ problem: String) -> [Item] {
        var items = [Item.invalid(line: startLine, InputError(field: "row", problem: problem))]
        var again = CSVRecordReader(firstLine: startLine + 1, atStartOfFile: false)
        for line in pending.dropFirst() { items += again.add(line) }
        self = again
        return items
    }
}

/// Writes CSV records (RFC 4180: fields with a comma, quote or line break are quoted, quotes
/// doubled; records end with CRLF) that spreadsheets open safely: a text field that starts like a
/// formula (`=`, `+`, `-`, `@`, tab, CR) gets a leading apostrophe, so a message body such as
/// `=HYPERLINK(…)` is shown, never run. Numbers (`-0.0079`) are left as they are.
public enum CSVWriter {
    public static func record(_ fields: [String]) -> String {
        fields.map(field).joined(separator: ",") + "\r\n"
    }

    public static func field(_ value: String) -> String {
        var text = value
        if let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first), !isNumber(text) {
            text = "'" + text
        }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func isNumber(_ text: String) -> Bool {
        var rest = Substring(text)
        if rest.first == "-" || rest.first == "+" { rest = rest.dropFirst() }
        let parts = rest.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        return !rest.isEmpty && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }
}
