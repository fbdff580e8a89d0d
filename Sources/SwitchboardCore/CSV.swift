import Foundation

/// One CSV line: comma-separated, fields optionally in double quotes ("" inside quotes is a quote).
public enum CSV {
    public static func fields(_ line: String, line number: Int) throws(InputError) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var iterator = Array(line)[...]
        while let character = iterator.popFirst() {
            if quoted {
                if character == "\"" {
                    if iterator.first == "\"" {
                        current.append("\"")
                        iterator.removeFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(character)
                }
            } else if character == "\"" && current.isEmpty {
                quoted = true
            } else if character == "," {
                fields.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
        }
        if quoted { throw InputError(field: "row", problem: "has an unterminated quoted field (line \(number))") }
        fields.append(current.trimmingCharacters(in: .whitespaces))
        return fields
    }
}
