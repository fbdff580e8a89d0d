/// Phone numbers stay out of logs above debug level, decided by where they are:
///
/// - a metadata value under a key that holds an address (`to`, `from`, `recipient`, `number`,
///   `twilio.to`, …) has every run of 7 or more digits masked, `+` or not;
/// - free text (messages, `error`) has E.164 numbers masked: Twilio's error messages and our own
///   quote them with their `+` ("The 'To' number +15005550001 is not a valid phone number.").
///   Bare digit runs there are ids, counts and times (`job.id=12345678`, `deleted 2500000 jobs`)
///   and stay readable.
///
/// A masked number keeps only its last two digits: `+*********01`. SIDs like `SM0123…` are left
/// alone (a digit run inside a word is not a number).
public enum LogRedaction {
    /// Metadata keys (or their last dotted part) whose values are phone numbers or addresses.
    public static let addressKeys: Set<String> = [
        "to", "from", "recipient", "number", "phone", "caller", "called", "address", "sender",
    ]

    /// A metadata value, masked according to its key.
    public static func masking(_ value: String, key: String) -> String {
        let last = key.split(separator: ".").last.map(String.init) ?? key
        return masking(value, requirePlus: !addressKeys.contains(last.lowercased()), minimumDigits: 7)
    }

    /// Free text: E.164 numbers (with their `+`) are masked.
    public static func maskingPhoneNumbers(_ text: String) -> String {
        masking(text, requirePlus: true, minimumDigits: 7)
    }

    static func masking(_ text: String, requirePlus: Bool, minimumDigits: Int) -> String {
        let characters = Array(text)
        var output = ""
        output.reserveCapacity(characters.count)
        var index = 0
        while index < characters.count {
            let start = index
            let previous: Character? = start > 0 ? characters[start - 1] : nil
            let boundaryBefore = previous.map { !($0.isLetter || $0.isNumber || $0 == "_") } ?? true
            var cursor = start
            let plus = characters[cursor] == "+"
            if plus { cursor += 1 }
            var digits = 0
            while cursor < characters.count {
                if characters[cursor].isASCII && characters[cursor].isNumber {
                    digits += 1
                    cursor += 1
                } else if plus, digits > 0, characters[cursor] == " " || characters[cursor] == "-",
                    cursor + 1 < characters.count, characters[cursor + 1].isASCII, characters[cursor + 1].isNumber
                {
                    cursor += 1
                } else {
                    break
                }
            }
            let next: Character? = cursor < characters.count ? characters[cursor] : nil
            let boundaryAfter = next.map { !($0.isLetter || $0.isNumber || $0 == "_") } ?? true
            if boundaryBefore, boundaryAfter, plus || !requirePlus, (minimumDigits...15).contains(digits) {
                let run = characters[start..<cursor].filter { $0.isNumber }
                output += (plus ? "+" : "") + String(repeating: "*", count: run.count - 2) + String(run.suffix(2))
                index = cursor
            } else {
                output.append(characters[start])
                index = start + 1
            }
        }
        return output
    }
}
