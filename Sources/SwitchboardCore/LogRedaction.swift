/// Phone numbers stay out of logs above debug level: Twilio's error messages and our own errors
/// quote them ("The 'To' number +15005550001 is not a valid phone number."). A run of 7 to 15
/// digits (optionally after `+`, optionally grouped with spaces or dashes inside a `+` number) that
/// is not part of a longer word — SIDs like `SM0123…` are left alone — keeps only its last two
/// digits: `+*********01`.
public enum LogRedaction {
    public static func maskingPhoneNumbers(_ text: String) -> String {
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
            if boundaryBefore, boundaryAfter, (7...15).contains(digits) {
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
