import Testing

@testable import SwitchboardCore

/// Test vectors from Twilio's message-segment-calculator (twilio-facts.md §9.3).
@Suite struct SegmentTests {
    static func digits(_ count: Int) -> String {
        String(String(repeating: "1234567890", count: count / 10 + 1).prefix(count))
    }

    static func digitsFrom2(_ count: Int) -> String {
        String(String(repeating: "2345678901", count: count / 10 + 1).prefix(count))
    }

    @Test(arguments: [(160, 1), (161, 2), (306, 2), (307, 3)])
    func gsm7(length: Int, segments: Int) {
        let count = Segments.count(Self.digits(length))
        #expect(count.encoding == .gsm7)
        #expect(count.segments == segments)
    }

    @Test(arguments: [(68, 1), (69, 2), (133, 3)])
    func ucs2WithSurrogatePair(digits: Int, segments: Int) {
        let count = Segments.count("😜" + Self.digitsFrom2(digits))
        #expect(count.encoding == .ucs2)
        #expect(count.segments == segments)
    }

    @Test func flagsAndZWJSequencesStayWhole() {
        #expect(Segments.count("🇮🇹" + Self.digits(66)).segments == 1)
        #expect(Segments.count("🇮🇹" + Self.digits(67)).segments == 2)
        #expect(Segments.count("🏳️‍🌈" + Self.digits(64)).segments == 1)
        #expect(Segments.count("🏳️‍🌈" + Self.digits(65)).segments == 2)
        #expect(Segments.count("🏳️‍🌈" + Self.digits(64)).characters == 65)
    }

    @Test(arguments: ["|", "^", "€", "{", "}", "[", "]", "~", "\\"])
    func extensionCharactersCountTwo(character: String) {
        #expect(Segments.count(character + Self.digits(158)).segments == 1)
        #expect(Segments.count(character + Self.digits(159)).segments == 2)
        #expect(Segments.count(character + Self.digits(159)).encoding == .gsm7)
    }

    @Test(arguments: ["Á", "Ú", "ú", "ç", "í", "Í", "ó", "Ó"])
    func nonGSMLatinLettersForceUCS2(character: String) {
        let seventy = Segments.count(String(repeating: character, count: 70))
        #expect(seventy.encoding == .ucs2)
        #expect(seventy.segments == 1)
        #expect(seventy.characters == 70)
        #expect(Segments.count(String(repeating: character, count: 71)).segments == 2)
    }

    @Test func gsmCharactersCostSixteenBitsInUCS2() {
        #expect(Segments.count("😀" + String(repeating: "]", count: 68)).segments == 1)
        #expect(Segments.count("😀" + String(repeating: "]", count: 69)).segments == 2)
    }

    @Test func combiningMarksAndLineEndings() {
        #expect(Segments.count("e\u{301}\u{301}\u{301}" + String(repeating: "a", count: 66)).segments == 1)
        #expect(Segments.count("e\u{301}\u{301}\u{301}" + String(repeating: "a", count: 67)).segments == 2)
        #expect(Segments.count("\rabcde\r\n123").characters == 11)
        #expect(Segments.count("\nabcde\n\n123\n").characters == 12)
        #expect(Segments.count(String(repeating: "你", count: 134)).segments == 2)
        #expect(Segments.count(String(repeating: "你", count: 135)).segments == 3)
        #expect(Segments.count(String(repeating: "a", count: 152) + "€").segments == 1)
        #expect(Segments.count(String(repeating: "a", count: 159) + "€").segments == 2)
    }

    @Test func smartEncodingKeepsMessagesInGSM7() {
        let body = "It’s “great” — see you…"
        #expect(Segments.count(body).encoding == .ucs2)
        let smart = Segments.count(body, smartEncoding: true)
        #expect(smart.encoding == .gsm7)
        #expect(smart.body == "It's \"great\" - see you...")
    }

    @Test func bodyLimits() throws {
        #expect(try Segments.validate(String(repeating: "a", count: 1600)).segments == 11)
        let error = #expect(throws: InputError.self) { try Segments.validate(String(repeating: "a", count: 1601)) }
        #expect(error?.description == "body: 1601 characters is more than Twilio's limit of 1600")
        #expect(throws: InputError(field: "body", problem: "is empty")) { try Segments.validate("  ") }
    }

    /// ASCII bodies are counted on bytes: the same answer as the grapheme walk, for every mix
    /// of basic, extended and non-GSM characters and line endings around the segment limits.
    @Test(arguments: [false, true])
    func asciiBodiesCountTheSameOnBytesAsByGraphemes(smartEncoding: Bool) {
        // GSM-7 only (basic, extended, line endings), and the same with characters outside it.
        let gsm = Array("abcXYZ 019.,!?@_\r\n[]{}|^~\\") + ["\n", "\r"]
        let alphabets = [gsm, gsm + ["`", "\t"]]
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 70, 152, 153, 154, 159, 160, 161, 305, 306, 307, 459, 460, 461, 800] {
            for sample in 0..<40 {
                let alphabet = alphabets[sample % 2]
                let body = String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
                let fast = Segments.count(body, smartEncoding: smartEncoding)
                let slow = Segments.countGraphemes(body, smartEncoding: smartEncoding)
                #expect(fast == slow, "\(body.debugDescription)")
            }
        }
    }
}
