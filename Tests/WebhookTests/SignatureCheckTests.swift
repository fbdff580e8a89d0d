import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore
import TestSupport
import Testing
import Twilio

/// Every Twilio route refuses what Twilio did not sign, before anything changes.
@Suite struct SignatureCheckTests {
    func callback(_ messageSID: String, _ status: String) -> FormParameters {
        [
            "MessageSid": messageSID, "MessageStatus": status, "AccountSid": accountSID, "To": "+15550001111",
            "From": "+14155550100", "ApiVersion": "2010-04-01",
        ]
    }

    @Test func forgedMissingAndMisdirectedSignaturesGet403AndChangeNothing() async throws {
        try await WebhookHarness.with(publicURL: "https://hooks.example.test") { hooks in
            let message = sid("SM", 1)
            try await hooks.recordMessage(sid: message, jobID: nil, to: "+15550001111")
            let path = "/twilio/messages/status"
            let form = callback(message, "delivered")
            #expect(try await hooks.post(path, form, sign: false).status == 403, "no signature")
            #expect(try await hooks.post(path, form, token: "someone-elses-token-000").status == 403, "wrong token")
            #expect(try await hooks.post(path, form, signature: "").status == 403, "empty signature")
            #expect(
                try await hooks.post(path, form, signedURL: "https://evil.example.test" + path).status == 403,
                "signed for another URL")
            let otherAccount = FormParameters(
                form.pairs.map { $0.name == "AccountSid" ? ($0.name, "AC" + String(repeating: "0", count: 32)) : $0 })
            #expect(try await hooks.post(path, otherAccount).status == 403, "unknown account")
            let signature = TwilioSignature.compute(url: hooks.publicURL + path, parameters: form, authToken: authToken)
            var changed = form
            changed.append("ErrorCode", "30003")
            #expect(try await hooks.post(path, changed, signature: signature).status == 403, "parameters changed")
            #expect(try await hooks.status(of: message) == "queued", "nothing changed")
            // Signed correctly (also over the URL with the default port, as Twilio sometimes does).
            #expect(
                try await hooks.post(
                    path, callback(message, "sent"), signedURL: "https://hooks.example.test:443" + path
                )
                .status == 204)
            #expect(try await hooks.post(path, form).status == 204)
            #expect(try await hooks.status(of: message) == "delivered")
        }
    }

    @Test func oversizedAndMalformedBodiesAreRefused() async throws {
        try await WebhookHarness.with(maxBodyBytes: 4096) { (hooks: WebhookHarness) async throws in
            let path = "/twilio/messages/inbound"
            var big = FormParameters()
            big.append("AccountSid", accountSID)
            big.append("Body", String(repeating: "x", count: 5000))
            #expect(try await hooks.post(path, big).status == 413)
            #expect(
                try await hooks.post(path, FormParameters(), rawBody: "Body=%zz&AccountSid=\(accountSID)").status == 400
            )
            // Signed, but without what the route needs.
            let incomplete: FormParameters = ["AccountSid": accountSID, "Body": "hi"]
            #expect(try await hooks.post(path, incomplete).status == 400)
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.inbound_messages") == 0)
        }
    }

    @Test func healthAndReadiness() async throws {
        try await WebhookHarness.with { hooks in
            #expect(try await hooks.get("/health").status == 200)
            let ready = try await hooks.get("/ready")
            #expect(ready.status == 200 && ready.body == "ready")
        }
    }

    @Test func apiKeyAccountsNeedTheirAuthTokenStored() async throws {
        try await WebhookHarness.with { hooks in
            let keySID = "AC" + String(repeating: "4e11", count: 8)
            try await hooks.accounts.upsert(
                name: "keyed", accountSID: keySID, apiKeySID: "SK" + String(repeating: "1", count: 32),
                secret: "an-api-key-secret-000")
            let form: FormParameters = ["AccountSid": keySID, "MessageSid": sid("SM", 9), "MessageStatus": "sent"]
            let path = "/twilio/messages/status"
            #expect(try await hooks.post(path, form, token: "the-real-auth-token-01").status == 403)
            #expect(try await hooks.accounts.setWebhookToken(name: "keyed", token: "the-real-auth-token-01"))
            // The token cache keeps the refusal for a moment; a fresh process (or 30 s) sees the token.
            let token = try await hooks.accounts.webhookToken(accountSID: keySID)
            #expect(token?.token == "the-real-auth-token-01")
            let error = await #expect(throws: InputError.self) {
                try await hooks.accounts.setWebhookToken(name: "keyed", token: "short")
            }
            #expect(error?.field == "auth_token")
        }
    }
}
