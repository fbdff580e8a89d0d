import SwitchboardCore
import Testing

@Suite struct SenderImportTests {
    @Test func twilioStyleExportsAreReadWithKindsAndCapabilities() {
        let csv = """
            PhoneNumber,FriendlyName,SmsEnabled,MmsEnabled,VoiceEnabled
            +15551230001,Marketing 1,true,false,true
            "+18005550100","Toll-free line",true,true,false
            12345,Short code,true,false,false

            """
        let (senders, failures) = SenderImport.parse(csv)
        #expect(failures.isEmpty, "\(failures)")
        #expect(senders.map(\.kind) == [.longCode, .tollFree, .shortCode])
        #expect(senders[0].capabilities == ["sms", "voice"] && senders[0].rate == 1)
        #expect(senders[1].capabilities == ["sms", "mms"] && senders[1].rate == 3)
        #expect(senders[2].rate == 100)
    }

    @Test func ownColumnsWithRatesAndWhatsApp() {
        let (senders, failures) = SenderImport.parse(
            "number,type,capabilities,rate,burst\nwhatsapp:+14155238886,whatsapp,whatsapp,80,5\n+15551230002,local,\"sms, mms\",2,\n"
        )
        #expect(failures.isEmpty, "\(failures)")
        #expect(senders.count == 2)
        #expect(senders[0].kind == .whatsapp && senders[0].rate == 80 && senders[0].burst == 5)
        #expect(senders[1].kind == .longCode && senders[1].capabilities == ["sms", "mms"] && senders[1].rate == 2)
    }

    /// Excel's "CSV UTF-8": a byte-order mark and CRLF line endings; a quoted field over two lines.
    @Test func spreadsheetExportsWithCRLFAndAByteOrderMark() {
        let csv =
            "\u{FEFF}PhoneNumber,FriendlyName,Rate\r\n+15551230001,\"Front desk\r\nsecond line\",3\r\n"
            + "+15551230002,Back office,2\r\n"
        let (senders, failures) = SenderImport.parse(csv)
        #expect(failures.isEmpty, "\(failures)")
        #expect(senders.map(\.address) == ["+15551230001", "+15551230002"])
        #expect(senders.map(\.rate) == [3, 2])
        // Line numbers count physical lines: the row after the two-line field is line 4.
        let bad = SenderImport.parse("PhoneNumber,Name\r\n+15551230001,\"a\r\nb\"\r\n,c\r\n").failures
        #expect(bad.map(\.line) == [4])
    }

    @Test func everyBadLineIsReportedWithItsColumn() {
        let csv = """
            PhoneNumber,Type,SmsEnabled,Rate
            +15551230001,long_code,true,1
            not-a-number,long_code,true,1
            +15551230003,pager,true,1
            +15551230004,long_code,maybe,1
            +15551230005,long_code,true,fast
            +15551230001,long_code,true,1
            """
        let (_, failures) = SenderImport.parse(csv)
        #expect(failures.map(\.line) == [3, 4, 5, 6, 7])
        #expect(failures[0].description.hasPrefix("line 3: address: 'not-a-number'"))
        #expect(
            failures[1].description
                == "line 4: Type: 'pager' is not one of long_code, toll_free, short_code, whatsapp, alphanumeric")
        #expect(failures[2].description == "line 5: sms: 'maybe' is not true or false")
        #expect(failures[3].description == "line 6: rate: 'fast' is not a number")
        #expect(failures[4].description == "line 7: PhoneNumber: '+15551230001' appears more than once")
        #expect(
            SenderImport.parse("FriendlyName\nx\n").failures.first?.description
                == "line 1: header: needs a PhoneNumber column")
        #expect(SenderImport.parse("").failures.first?.description == "line 1: header: the file is empty")
    }
}
