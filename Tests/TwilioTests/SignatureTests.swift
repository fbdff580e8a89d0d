import Foundation
import Testing
import Twilio

/// Official test vectors (twilio-facts.md §4.2).
@Suite struct SignatureTests {
    let token = "12345"
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    let parameters: FormParameters = [
        "CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234", "From": "+14158675309",
        "To": "+18005551212",
    ]

    @Test(arguments: [
        ("https://mycompany.com/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("https://mycompany.com:443/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("http://mycompany.com:80/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
    ])
    func computes(url: String, expected: String) {
        #expect(TwilioSignature.compute(url: url, parameters: parameters, authToken: token) == expected)
    }

    @Test func acceptsBothPortVariants() {
        #expect(
            TwilioSignature.isValid(
                signature: "kvajT1Ptam85bY51eRf/AJRuM3w=", url: url, parameters: parameters, authToken: token))
        #expect(
            TwilioSignature.isValid(
                signature: "RSOYDt4T1cUTdK1PDd93/VVr8B8=", url: "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                parameters: parameters, authToken: token))
        #expect(
            !TwilioSignature.isValid(
                signature: "RSOYDt4T1cUTdK1PDd93/VVr8B8=", url: url, parameters: parameters, authToken: "wrong"))
        var tampered = parameters
        tampered.append("Extra", "1")
        #expect(
            !TwilioSignature.isValid(
                signature: "RSOYDt4T1cUTdK1PDd93/VVr8B8=", url: url, parameters: tampered, authToken: token))
    }

    @Test func duplicateAndArrayParameters() {
        let duplicates = FormParameters([
            ("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234"),
        ])
        #expect(
            TwilioSignature.compute(url: url, parameters: duplicates, authToken: token)
                == "IK+Dwps556ElfBT0I3Rgjkr1wJU=")
    }

    @Test func credentialsAndSpecialCharactersInTheURL() {
        #expect(
            TwilioSignature.compute(
                url: "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2", parameters: parameters, authToken: token)
                == "CukzLTc1tT5dXEDIHm/tKBanW10=")
        #expect(
            TwilioSignature.compute(
                url: "https://user@mycompany.com/myapp.php?foo=1&bar=2", parameters: parameters, authToken: token)
                == "2YRLlVAflCqxaNicjMpJcSTgzSs=")
        #expect(
            TwilioSignature.compute(
                url: "https://mycompany.com/myapp.php?foo=1&bar=2&Body=It%27s+amazing", parameters: parameters,
                authToken: token) == "TfZzewPq8wqrGlMfyAud8+/IvJ0=")
    }

    @Test func jsonBodies() {
        let body = Data(#"{"property": "value", "boolean": true}"#.utf8)
        let signed =
            "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
        #expect(
            TwilioSignature.isValidJSON(
                signature: "a9nBmqA0ju/hNViExpshrM61xv4=", url: signed, body: body, authToken: token))
        #expect(
            !TwilioSignature.isValidJSON(
                signature: "a9nBmqA0ju/hNViExpshrM61xv4=", url: signed, body: Data("{}".utf8), authToken: token))
        let empty =
            "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        #expect(
            TwilioSignature.isValidJSON(
                signature: "Ldidvp12m26NI7eqEvxnEpkd9Hc=", url: empty, body: Data("{}".utf8), authToken: token))
    }
}

@Suite struct FormTests {
    @Test func encodesRepeatedKeysAndEscapes() {
        var form = FormParameters()
        form.append("To", "+15551234567")
        form.append("Body", "Hi & bye = ✓")
        form.append("MediaUrl", "https://a.example/1.png")
        form.append("MediaUrl", "https://a.example/2.png")
        #expect(
            form.encoded
                == "To=%2B15551234567&Body=Hi%20%26%20bye%20%3D%20%E2%9C%93&MediaUrl=https%3A%2F%2Fa.example%2F1.png&MediaUrl=https%3A%2F%2Fa.example%2F2.png"
        )
        let decoded = FormParameters.decode(form.encoded)
        #expect(decoded == form)
        #expect(decoded?.values("MediaUrl").count == 2)
        #expect(FormParameters.decode("Body=It%27s+amazing")?["Body"] == "It's amazing")
        #expect(FormParameters.decode("Body=%zz") == nil)
        #expect(FormParameters.decode("Body=%FF") == nil)
    }

    @Test func decodesBothErrorShapes() {
        let classic = TwilioAPIError.decode(
            httpStatus: 400,
            body: Data(
                #"{"code": 21211, "message": "The 'To' number 5551234567 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#
                    .utf8))
        #expect(classic.code == 21211)
        #expect(classic.moreInfo == "https://www.twilio.com/docs/errors/21211")
        let problem = TwilioAPIError.decode(
            httpStatus: 429,
            body: Data(
                #"{"type": "https://x", "title": "Too Many Requests", "status": 429, "code": 20429, "detail": "slow down"}"#
                    .utf8))
        #expect(problem.code == 20429)
        #expect(problem.message == "Too Many Requests: slow down")
        let garbage = TwilioAPIError.decode(httpStatus: 502, body: Data("<html>".utf8))
        #expect(garbage.message == "[HTTP 502] Failed to execute request")
        #expect(garbage.code == nil)
    }

    @Test func credentialsNeverPrintTheSecret() {
        let credentials = TwilioCredentials(
            accountSID: "AC" + String(repeating: "a", count: 32), authToken: "super-secret-token")
        #expect(!"\(credentials)".contains("super-secret-token"))
        #expect(!String(reflecting: credentials).contains("super-secret-token"))
    }
}
