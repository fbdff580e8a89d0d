import EmbeddedPostgres
import Foundation
import SwitchboardCore
import Testing

@testable import SwitchboardEvents

/// Event deliveries are signed as the Standard Webhooks specification says, and the verification
/// snippets users copy (docs/verify-webhook.py and .js) accept exactly what they should.
@Suite struct EventSignatureTests {
    /// The specification's own example.
    @Test func matchesTheStandardWebhooksExample() throws {
        let secret = try WebhookSecret(parsing: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let signature = EventSignature.signature(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Array(#"{"test": 2432232314}"#.utf8),
            secret: secret)
        #expect(signature == "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func verifyAcceptsTheSignedDeliveryAndNothingElse() throws {
        let secret = WebhookSecret()
        let body = Array(#"{"type":"message.delivered","data":{"jobId":7}}"#.utf8)
        let headers = Dictionary(
            uniqueKeysWithValues: EventSignature.headers(
                id: "evt_1", timestamp: 1_000_000, body: body, secrets: [WebhookSecret(), secret]
            ).map { ($0.name, $0.value) })
        let signatures = try #require(headers["webhook-signature"])
        #expect(signatures.split(separator: " ").count == 2, "one per current secret")
        try EventSignature.verify(
            id: "evt_1", timestamp: "1000000", signatures: signatures, body: body, secret: secret, now: 1_000_100)
        let tampered = #expect(throws: InputError.self) {
            try EventSignature.verify(
                id: "evt_1", timestamp: "1000000", signatures: signatures, body: body + [0x20], secret: secret,
                now: 1_000_100)
        }
        #expect(tampered?.field == "webhook-signature")
        let replayed = #expect(throws: InputError.self) {
            try EventSignature.verify(
                id: "evt_1", timestamp: "1000000", signatures: signatures, body: body, secret: secret, now: 1_000_301)
        }
        #expect(replayed?.field == "webhook-timestamp")
    }

    @Test(arguments: ["", "whsec_", "whsec_!!!", "sk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_AAAA"])
    func badSecretsAreRefusedWithoutBeingRepeated(text: String) {
        let error = #expect(throws: InputError.self) { try WebhookSecret(parsing: text, field: "secret") }
        #expect(error?.field == "secret")
        if text.count > 8 { #expect(error?.description.contains(text) == false) }
    }

    @Test func aSecretReadsBackFromItsText() throws {
        let secret = WebhookSecret()
        #expect(try WebhookSecret(parsing: secret.text) == secret)
        #expect(secret.text.hasPrefix("whsec_"))
    }

    // MARK: the snippets

    static let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs")

    /// Runs `program` (python3 or node) on the snippet with a delivery signed now (`age` seconds
    /// ago); the exit status says what the snippet answered.
    func snippetAccepts(_ program: String, tamper: Bool = false, age: Int64 = 0) async throws -> Bool {
        let secret = WebhookSecret()
        let body = Array(#"{"type":"reply.received","data":{"body":"Oui, à 10 h ✓"}}"#.utf8)
        let now = Int64(Date().timeIntervalSince1970)
        let headers = EventSignature.headers(id: "evt_42", timestamp: now - age, body: body, secrets: [secret])
        let bodyPath = NSTemporaryDirectory() + "event-body-\(UInt32.random(in: 0...UInt32.max))"
        try Data(tamper ? body + [0x20] : body).write(to: URL(fileURLWithPath: bodyPath))
        defer { try? FileManager.default.removeItem(atPath: bodyPath) }
        var environment = ["SECRET": secret.text, "BODY_PATH": bodyPath]
        for (name, value) in headers { environment[name.uppercased().replacingOccurrences(of: "-", with: "_")] = value }
        let arguments: [String]
        if program == "python3" {
            let path = Self.docs.appendingPathComponent("verify-webhook.py").path
            arguments = [
                "-c",
                """
                import os, sys
                exec(open(\(path.debugDescription)).read())
                headers = {n: os.environ[n.upper().replace("-", "_")] for n in ("webhook-id", "webhook-timestamp", "webhook-signature")}
                sys.exit(0 if verify(os.environ["SECRET"], headers, open(os.environ["BODY_PATH"], "rb").read()) else 3)
                """,
            ]
        } else {
            let path = Self.docs.appendingPathComponent("verify-webhook.js").path
            arguments = [
                "-e",
                """
                const { verify } = require(\(path.debugDescription));
                const fs = require("fs");
                const headers = {};
                for (const n of ["webhook-id", "webhook-timestamp", "webhook-signature"]) headers[n] = process.env[n.toUpperCase().replace(/-/g, "_")];
                process.exit(verify(process.env.SECRET, headers, fs.readFileSync(process.env.BODY_PATH)) ? 0 : 3);
                """,
            ]
        }
        let child = try ChildProcess("/usr/bin/env", [program] + arguments, environment: environment)
        let status = await child.wait()
        // 3: the snippet said no; anything else but 0 is a crash.
        #expect(status == 0 || status == 3, "\(program): \(child.output)")
        return status == 0
    }

    @Test(arguments: ["python3", "node"])
    func theREADMESnippetsVerifyOurSignatures(program: String) async throws {
        #expect(try await snippetAccepts(program))
        #expect(try await snippetAccepts(program, tamper: true) == false, "a changed body")
        #expect(try await snippetAccepts(program, age: 301) == false, "a replay past the window")
    }
}
