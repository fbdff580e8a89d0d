import Foundation
import SwitchboardCore
import Testing

/// A campaign import writes each recipient's payload with the hand-built `MessageSpec.jsonText`;
/// it must say exactly what `JSONEncoder` says, for every field, set or not.
@Suite struct MessageSpecJSONTests {
    static let everything = #"""
        {"channel": "whatsapp", "account": "main", "to": "whatsapp:+15551234567", "from": "whatsapp:+15557654321",
         "messagingServiceSid": "MGabababababababababababababababab", "pool": "promo",
         "body": "Quote \" backslash \\ slash / newline \n tab \t bell \u0007 é 😀 \u0301",
         "mediaUrls": ["https://example.com/a.png", "https://example.com/b?x=\"1\""], "smartEncoding": true,
         "validityPeriod": 3600, "statusCallback": "https://hooks.example.com/status",
         "contentSid": "HX00000000000000000000000000000000", "contentVariables": "{\"1\":\"Ben\"}",
         "segments": 3, "encoding": "UCS-2", "sendWindow": "09:00-20:00", "timezone": "America/New_York",
         "campaignId": 42}
        """#

    static let minimal = #"""
        {"channel": "sms", "account": "main", "to": "+15551234567", "mediaUrls": [], "smartEncoding": false,
         "segments": 1, "encoding": "GSM-7"}
        """#

    @Test(arguments: [everything, minimal])
    func saysWhatTheEncoderSays(_ source: String) throws {
        let spec = try JSONDecoder().decode(MessageSpec.self, from: Data(source.utf8))
        let text = spec.jsonText
        #expect(try JSONDecoder().decode(MessageSpec.self, from: Data(text.utf8)) == spec)
        let encoded = try JSONEncoder().encode(spec)
        let ours = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        let theirs = try JSONDecoder().decode(JSONValue.self, from: encoded)
        #expect(ours == theirs, "\(text)")
    }
}

/// A prepared message parses a sender without tags once, and takes a recipient the caller parsed
/// already: the result, and every error, are those of parsing each row's text.
@Suite struct PreparedMessageTests {
    func prepared(from: String) throws -> PreparedMessage {
        let request = try JSONDecoder().decode(
            MessageRequest.self,
            from: Data(#"{"account": "main", "to": "{{phone}}", "from": "\#(from)", "body": "Hi {{n}}"}"#.utf8))
        return try request.prepared(channel: .sms)
    }

    @Test func aParsedRecipientAndAConstantSenderGiveTheSameMessage() throws {
        let message = try prepared(from: "+1 (555) 765-4321")
        let variables: [String: JSONValue] = ["phone": .string("+15551234567"), "n": .int(3)]
        let parsed = try message.resolve(variables: variables)
        let hinted = try message.resolve(
            variables: variables, recipient: try PhoneNumber(parsing: "+15551234567", field: "to"))
        #expect(parsed == hinted)
        #expect(hinted.from == "+15557654321")
        // A hint for another number is not taken: the rendered text is parsed.
        let other = try message.resolve(
            variables: variables, recipient: try PhoneNumber(parsing: "+15550000000", field: "to"))
        #expect(other.to == "+15551234567")
    }

    @Test func aBadConstantSenderFailsEveryRowNamingTheField() throws {
        let message = try prepared(from: "+1555")
        for n in 0..<2 {
            let error = #expect(throws: InputError.self) {
                try message.resolve(variables: ["phone": .string("+15551234567"), "n": .int(Int64(n))])
            }
            #expect(error?.field == "from")
        }
    }
}
