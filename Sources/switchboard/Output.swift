import ArgumentParser
import Foundation

/// `--json` for scripts; a readable table otherwise.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON (for scripts) instead of a table.") var json = false
}

/// Prints rows under headers, each column as wide as its widest cell.
func printTable(_ headers: [String], _ rows: [[String]], emptyMessage: String = "(none)") {
    guard !rows.isEmpty else {
        print(emptyMessage)
        return
    }
    var widths = headers.map(\.count)
    for row in rows {
        for (index, cell) in row.enumerated() where index < widths.count {
            widths[index] = max(widths[index], cell.count)
        }
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { index, cell in
            index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
    print(line(headers.map { $0.uppercased() }))
    for row in rows { print(line(row)) }
}

/// Key–value lines for one record.
func printFields(_ fields: [(String, String)]) {
    let width = (fields.map(\.0.count).max() ?? 0) + 2
    for (name, value) in fields { print(name.padding(toLength: width, withPad: " ", startingAt: 0) + value) }
}

/// Pretty, key-sorted JSON with ISO 8601 dates.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// A cell that stays one line and at most `limit` characters.
func cell(_ text: String?, limit: Int = 60) -> String {
    guard let text else { return "-" }
    let flat = text.replacingOccurrences(of: "\n", with: " ")
    return flat.count <= limit ? flat : String(flat.prefix(limit - 1)) + "…"
}
