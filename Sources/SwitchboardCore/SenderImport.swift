/// Senders from a CSV export (Twilio console's phone numbers list, or your own): a header row,
/// then one sender per line. Columns are matched by name, ignoring case, spaces and underscores:
///
/// - `PhoneNumber` (or `Number`, `Address`): required — `+15551234567`, `whatsapp:+…`, a short
///   code or an alphanumeric ID;
/// - `Type` (or `Kind`): `long_code`/`local`/`mobile`, `toll_free`, `short_code`, `whatsapp`,
///   `alphanumeric`; inferred from the number when absent;
/// - `Capabilities` (`sms, mms, voice`), or Twilio's `SmsEnabled`, `MmsEnabled`, `VoiceEnabled`
///   (true/false); defaulted by kind when absent;
/// - `Rate` and `Burst`: segments per second and how many may be booked ahead.
///
/// Every line is checked before anything is stored; errors name the line and the column.
public enum SenderImport {
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var error: InputError
        public var description: String { "line \(line): \(error)" }
    }

    public static func parse(_ text: String) -> (senders: [SenderSpec], failures: [Failure]) {
        let items = CSVRecordReader.items(in: text)
        guard let first = items.first else {
            return ([], [Failure(line: 1, error: InputError(field: "header", problem: "the file is empty"))])
        }
        guard case .record(let headerFields, _) = first else {
            if case .invalid(let line, let error) = first { return ([], [Failure(line: line, error: error)]) }
            return ([], [])
        }
        let header = headerFields.map(key)
        func column(_ names: String...) -> Int? { header.firstIndex { names.contains($0) } }
        guard let number = column("phonenumber", "number", "address") else {
            return ([], [Failure(line: 1, error: InputError(field: "header", problem: "needs a PhoneNumber column"))])
        }
        let kindColumn = column("type", "kind")
        let capabilitiesColumn = column("capabilities")
        let flags = [
            ("sms", column("smsenabled", "sms")), ("mms", column("mmsenabled", "mms")),
            ("voice", column("voiceenabled", "voice")),
        ]
        let rateColumn = column("rate")
        let burstColumn = column("burst")

        var senders: [SenderSpec] = []
        var failures: [Failure] = []
        var seen: Set<String> = []
        for item in items.dropFirst() {
            let lineNumber: Int
            let fields: [String]
            switch item {
            case .record(let record, let line): (fields, lineNumber) = (record, line)
            case .invalid(let line, let error):
                failures.append(Failure(line: line, error: error))
                continue
            }
            do {
                func value(_ column: Int?) -> String? {
                    guard let column, column < fields.count, !fields[column].isEmpty else { return nil }
                    return fields[column]
                }
                guard let address = value(number) else {
                    throw InputError(field: header[number], problem: "is empty")
                }
                let kind = try value(kindColumn).map(parseKind) ?? inferKind(address)
                var capabilities = try value(capabilitiesColumn).map(parseCapabilities)
                if capabilities == nil, flags.contains(where: { value($0.1) != nil }) {
                    capabilities = try flags.compactMap { name, column in
                        guard let text = value(column) else { return nil }
                        return try parseBool(text, field: name) ? name : nil
                    }
                }
                let rate = try value(rateColumn).map { try parseNumber($0, field: "rate") }
                let burst = try value(burstColumn).map { try parseNumber($0, field: "burst") } ?? 1
                let spec = try SenderSpec(
                    address: address, kind: kind, rate: rate, burst: burst, capabilities: capabilities)
                guard seen.insert(spec.address).inserted else {
                    throw InputError(field: "PhoneNumber", problem: "'\(address)' appears more than once")
                }
                senders.append(spec)
            } catch let error as InputError {
                failures.append(Failure(line: lineNumber, error: error))
            } catch {
                failures.append(Failure(line: lineNumber, error: InputError(field: "row", problem: "\(error)")))
            }
        }
        return (senders, failures)
    }

    static func key(_ name: String) -> String {
        String(name.lowercased().filter { $0 != " " && $0 != "_" && $0 != "-" })
    }

    static func parseKind(_ text: String) throws(InputError) -> SenderKind {
        switch key(text) {
        case "longcode", "local", "mobile", "national": return .longCode
        case "tollfree": return .tollFree
        case "shortcode": return .shortCode
        case "whatsapp": return .whatsapp
        case "alphanumeric", "alphanumericsenderid": return .alphanumeric
        default:
            throw InputError(
                field: "Type",
                problem: "'\(text)' is not one of long_code, toll_free, short_code, whatsapp, alphanumeric")
        }
    }

    /// whatsapp:… → WhatsApp; 3–8 digits → short code; +1 8xx toll-free prefixes → toll-free;
    /// letters, digits and spaces only → alphanumeric; anything else a long code.
    static func inferKind(_ address: String) -> SenderKind {
        if address.lowercased().hasPrefix("whatsapp:") { return .whatsapp }
        if (3...8).contains(address.count), address.allSatisfy(\.isNumber) { return .shortCode }
        if address.contains(where: \.isLetter), address.allSatisfy({ $0.isLetter || $0.isNumber || $0 == " " }) {
            return .alphanumeric
        }
        let digits = address.filter(\.isNumber)
        if digits.count == 11, digits.hasPrefix("1"),
            ["800", "833", "844", "855", "866", "877", "888"].contains(String(digits.dropFirst().prefix(3)))
        {
            return .tollFree
        }
        return .longCode
    }

    static func parseCapabilities(_ text: String) throws(InputError) -> [String] {
        let names = text.lowercased().split { $0 == "," || $0 == " " || $0 == ";" || $0 == "|" }.map(String.init)
        guard !names.isEmpty else { throw InputError(field: "Capabilities", problem: "is empty") }
        return names
    }

    static func parseBool(_ text: String, field: String) throws(InputError) -> Bool {
        switch text.lowercased() {
        case "true", "yes", "1", "y": return true
        case "false", "no", "0", "n": return false
        default: throw InputError(field: field, problem: "'\(text)' is not true or false")
        }
    }

    static func parseNumber(_ text: String, field: String) throws(InputError) -> Double {
        guard let number = Double(text) else { throw InputError(field: field, problem: "'\(text)' is not a number") }
        return number
    }
}
