import SwitchboardCore
import Testing

/// CSV as spreadsheets and Python's csv module write it.
@Suite struct CSVTests {
    func read(_ text: String) -> [CSVRecordReader.Item] {
        var reader = CSVRecordReader()
        var items: [CSVRecordReader.Item] = []
        // Lines as getline returns them: each with its line ending.
        var line = ""
        for scalar in text.unicodeScalars {
            line.unicodeScalars.append(scalar)
            if scalar == "\n" {
                items += reader.add(line)
                line = ""
            }
        }
        if !line.isEmpty { items += reader.add(line) }
        return items + reader.finish()
    }

    @Test func crlfLineEndingsAreNotPartOfTheLastField() {
        #expect(
            read("phone,code\r\n+12125550001,A1\r\n+12125550002,B2\r\n") == [
                .record(["phone", "code"], line: 1), .record(["+12125550001", "A1"], line: 2),
                .record(["+12125550002", "B2"], line: 3),
            ])
    }

    /// Fields lose the spaces and tabs around them (Unicode spaces too) and keep what is inside; a
    /// field with nothing around it comes back as it is (the import's fast path).
    @Test func spacesAroundUnquotedFieldsAreTrimmed() {
        #expect(
            read(" a ,\tb\t,\u{00A0}c\u{2003}, d e ,é, \n") == [.record(["a", "b", "c", "d e", "é", ""], line: 1)])
    }

    @Test func aByteOrderMarkBeforeTheHeaderIsDropped() {
        #expect(read("\u{FEFF}phone,name\n+12125550001,Ana\n").first == .record(["phone", "name"], line: 1))
        // Only at the start of the file.
        #expect(read("a\n\u{FEFF}b\n").last == .record(["\u{FEFF}b"], line: 2))
    }

    @Test func aQuotedFieldKeepsItsLineBreaksAndTheNextRecordItsLineNumber() {
        #expect(
            read("phone,address\r\n+12125550001,\"1 Main St\r\nApt 2\"\r\n+12125550002,\"x, \"\"y\"\"\"\r\n") == [
                .record(["phone", "address"], line: 1), .record(["+12125550001", "1 Main St\nApt 2"], line: 2),
                .record(["+12125550002", "x, \"y\""], line: 4),
            ])
    }

    @Test func blankLinesBetweenRecordsAreSkipped() {
        #expect(read("a,b\n\n  \n1,2\n\n") == [.record(["a", "b"], line: 1), .record(["1", "2"], line: 4)])
    }

    @Test func aStrayQuoteCostsOneRowNotTheRestOfTheFile() {
        let rows = (2...30).map { "+1212555\(String(format: "%04d", $0)),x" }
        var lines = ["phone,name"] + rows
        lines[2] = "+12125550003,\"Ann"  // line 3 opens a quote it never closes
        let items = read(lines.joined(separator: "\n") + "\n")
        #expect(items.first == .record(["phone", "name"], line: 1))
        let invalid = items.compactMap { item -> Int? in
            if case .invalid(let line, _) = item { return line }
            return nil
        }
        #expect(invalid == [3])
        let recorded = items.compactMap { item -> Int? in
            if case .record(_, let line) = item { return line }
            return nil
        }
        #expect(recorded == [1, 2] + Array(4...30))
    }

    @Test func aQuoteLeftOpenAtTheEndOfTheFileIsRefusedAndTheLinesAfterItRead() {
        let items = read("a,b\n1,\"open\n2,3\n")
        #expect(items.count == 3)
        #expect(
            items[1] == .invalid(line: 2, InputError(field: "row", problem: "has a quoted field that is never closed")))
        #expect(items[2] == .record(["2", "3"], line: 3))
    }

    @Test func oneLineFieldsAsBefore() {
        #expect(read(" a , \"b,c\" ,\"\"\"q\"\"\"\r") == [.record(["a", "b,c", "\"q\""], line: 1)])
        #expect(
            read("a,\"b") == [
                .invalid(line: 1, InputError(field: "row", problem: "has a quoted field that is never closed"))
            ])
        // A whole file's text reads the same as its lines.
        let text = "phone,address\r\n+12125550001,\"1 Main St\r\nApt 2\"\r\n\r\n+12125550002,x\r\n"
        #expect(CSVRecordReader.items(in: text) == read(text))
    }
}
