import SwitchboardCore
import Testing

@Suite struct PhoneNumberTests {
    @Test(arguments: [
        ("+15551234567", 1, "5551234567"), ("+1 (555) 123-4567", 1, "5551234567"), ("+447911123456", 44, "7911123456"),
        ("00351912345678", 351, "912345678"), ("+4915112345678", 49, "15112345678"),
        ("+8613812345678", 86, "13812345678"),
        ("+6831234", 683, "1234"),
    ])
    func parsesE164(raw: String, code: Int, national: String) throws {
        let number = try PhoneNumber(parsing: raw, field: "to")
        #expect(number.countryCode == code)
        #expect(number.nationalNumber == national)
        #expect(number.e164 == "+\(code)\(national)")
    }

    @Test func identifiesNANPAreaCodesAndRegions() throws {
        let number = try PhoneNumber(parsing: "+14155238886", field: "to")
        #expect(number.isNANP)
        #expect(number.areaCode == "415")
        #expect(number.regions.first == "US")
        #expect(try PhoneNumber(parsing: "+447911123456", field: "to").areaCode == nil)
        #expect(try PhoneNumber(parsing: "+447911123456", field: "to").regions.first == "GB")
    }

    @Test(arguments: [
        ("+1555", "to: '+1555' is not a valid E.164 number: too short"),
        ("", "to: is empty; expected an E.164 number such as +15551234567"),
        ("5551234567", "it must start with + and the country code"),
        ("+1555123456", "too short (+1 numbers have 10 digits after +1)"),
        ("+155512345678", "too long (+1 numbers have 10 digits after +1)"),
        ("+10551234567", "area code 055 is not valid"),
        ("+1555abc4567", "unexpected character 'a'"),
        // A digit with a combining mark is one Character between "0" and "9": it was taken as a digit.
        ("+1555123456\u{301}7", "unexpected character '\u{301}'"),
        ("+１５５５１２３４５６７", "unexpected character '１'"),
        ("+1555+1234567", "unexpected character '+'"),
        ("+1234567890123456", "too long (E.164 allows at most 15 digits)"),
        ("+", "too short"),
        ("+8001", "too short"),
    ])
    func rejectsWithClearMessages(raw: String, message: String) {
        let error = #expect(throws: InputError.self) { try PhoneNumber(parsing: raw, field: "to") }
        #expect(error?.field == "to")
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "no error")")
    }

    @Test func unknownCountryCodes() {
        let error = #expect(throws: InputError.self) { try PhoneNumber(parsing: "+2831234567", field: "to") }
        #expect(error?.description.contains("no country calling code starts with 283") == true)
    }

    @Test func whatsappAddresses() throws {
        let address = try ChannelAddress(parsing: "whatsapp:+15552229999", field: "to")
        #expect(address.isWhatsApp)
        #expect(address.description == "whatsapp:+15552229999")
        #expect(
            try ChannelAddress(parsing: "+15552229999", field: "to")
                == .phone(try PhoneNumber(parsing: "+15552229999", field: "to")))
        #expect(throws: InputError.self) { try ChannelAddress(parsing: "whatsapp:12", field: "to") }
    }

    @Test(arguments: [
        ("(555) 123-4567", "+15551234567"), ("555.123.4567", "+15551234567"), ("1 555 123 4567", "+15551234567"),
        ("+44 7911 123456", "+447911123456"),
    ])
    func normalisesLooseInput(raw: String, expected: String) throws {
        #expect(try PhoneNumber.normalise(raw, field: "to").e164 == expected)
    }
}

@Suite struct OptOutKeywordTests {
    @Test(arguments: [
        "STOP", "stop", " Stop ", "STOPALL", "unsubscribe", "Cancel", "END", "quit", "Stop!", "revoke", "OPTOUT",
    ])
    func optOut(body: String) {
        #expect(OptOutKeywords.intent(of: body) == .optOut)
    }

    @Test(arguments: ["START", "yes", "Unstop"])
    func optIn(body: String) {
        #expect(OptOutKeywords.intent(of: body) == .optIn)
    }

    @Test(arguments: ["HELP", "info"])
    func help(body: String) {
        #expect(OptOutKeywords.intent(of: body) == .help)
    }

    @Test(arguments: ["STOP PLEASE", "please stop", "stopp", "", "Yes please", "I want to end this"])
    func ordinaryMessages(body: String) {
        #expect(OptOutKeywords.intent(of: body) == nil)
    }
}
