import EmbeddedPostgres
import Foundation
import TestSupport
import Testing

/// `switchboard events`: subscriptions are checked naming the flag with nothing written, the
/// signing secret goes to a file (mode 0600) and never to the output, and a `switchboard worker`
/// delivers to a receiver process that verifies with the README's snippet.
@Suite struct EventsCommandTests {
    @Test func subscribeCheckDeliverAndManage() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "e7e0", count: 8), token: "events-token-0123456789")
            defer { sandbox.stop() }
            let directory = NSTemporaryDirectory() + "events-cli-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let secretFile = directory + "/crm.secret"
            let badSecret = directory + "/bad.secret"
            try "sk_live_not_a_webhook_secret\n".write(toFile: badSecret, atomically: true, encoding: .utf8)

            let types = try await sandbox.run(["events", "types"])
            #expect(types.contains("message.delivered") && types.contains("campaign.finished"), "\(types)")
            let base = ["events", "subscribe", "--secret-file", secretFile]
            let refusals: [([String], String)] = [
                (["--url", "ftp://crm.example.com/x", "--events", "*"], "--url: must be an http(s) URL"),
                (
                    ["--url", "https://crm.example.com/x", "--events", "message.exploded"],
                    "--events: 'message.exploded'"
                ),
                (
                    ["--url", "https://crm.example.com/x", "--events", "message.sent,,reply.received"],
                    "--events: has an empty entry"
                ),
                (
                    ["--url", "https://crm.example.com/x", "--events", "*", "--account", "nobody"],
                    "--account: no account named 'nobody'"
                ),
            ]
            for (arguments, message) in refusals {
                let (status, output) = try await sandbox.outcome(base + arguments)
                #expect(status == 64 && output.contains(message), "\(arguments): \(output)")
            }
            let bad = try await sandbox.outcome([
                "events", "subscribe", "--url", "https://crm.example.com/x", "--events", "*", "--secret-file",
                badSecret,
            ])
            #expect(bad.0 == 64 && bad.1.contains("--secret-file: is not a signing secret"), "\(bad.1)")
            #expect(!bad.1.contains("sk_live"), "the bad secret is not repeated")
            #expect(try await db.integer("SELECT count(*) FROM switchboard.event_subscriptions") == 0)
            #expect(!FileManager.default.fileExists(atPath: secretFile), "no secret left for nothing")

            // A real subscription to a receiver process; the secret goes to the file only.
            let port = try freeLoopbackPort()
            let subscribed = try await sandbox.run(
                base + [
                    "--url", "http://127.0.0.1:\(port)/ok", "--events", "optout.changed,reply.received", "--account",
                    "main", "--description", "CRM",
                ])
            let secret = try String(contentsOfFile: secretFile, encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines)
            #expect(secret.hasPrefix("whsec_") && !subscribed.contains(secret), "\(subscribed)")
            let mode = try FileManager.default.attributesOfItem(atPath: secretFile)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            let listed = try await sandbox.run(["events", "list"])
            #expect(listed.contains("127.0.0.1:\(port)/ok") && listed.contains("active") && !listed.contains(secret))

            let receiver = try await EventReceiver(port: port, secrets: [secret])
            defer { receiver.kill() }
            let worker = try sandbox.launch(["worker", "--poll-interval", "200ms"])
            defer { worker.signal(SIGKILL) }
            // An opt-out through the CLI is an event; so is one written by any producer's SQL.
            try await sandbox.run(["optouts", "add", "--account", "main", "--number", "+15550001111"])
            #expect(
                await eventually(timeout: .seconds(30)) {
                    try await db.integer("SELECT count(*) FROM switchboard.event_deliveries WHERE state = 'delivered'")
                        == 1
                }, "\(worker.output)")
            let received = receiver.text
            #expect(received.contains(#""verified": true"#) && received.contains("+15550001111"), "\(received)")

            let deliveries = try await sandbox.run(["events", "deliveries", "--subscription", "1"])
            #expect(
                deliveries.contains("optout.changed") && deliveries.contains("delivered")
                    && deliveries.contains("HTTP 200"))
            let attempts = try await sandbox.run(["events", "attempts", "1", "--json"])
            #expect(attempts.contains(#""statusCode" : 200"#), "\(attempts)")

            // Rotation: a new file, the old secret still signs for the overlap.
            let rotated = try await sandbox.run([
                "events", "rotate-secret", "1", "--secret-file", directory + "/crm-2.secret", "--overlap", "1h",
            ])
            let second = try String(contentsOfFile: directory + "/crm-2.secret", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(second != secret && !rotated.contains(second), "\(rotated)")
            let badOverlap = try await sandbox.outcome([
                "events", "rotate-secret", "1", "--secret-file", directory + "/crm-3.secret", "--overlap", "soon",
            ])
            #expect(badOverlap.0 == 64 && badOverlap.1.contains("--overlap:"), "\(badOverlap.1)")

            for command in ["pause", "resume", "delete"] {
                let missing = try await sandbox.outcome(["events", command, "99"])
                #expect(missing.0 == 1 && missing.1.contains("no event subscription 99"), "\(command): \(missing.1)")
            }
            #expect(try await sandbox.run(["events", "pause", "1"]).contains("paused"))
            try await sandbox.run(["optouts", "remove", "--account", "main", "--number", "+15550001111"])
            #expect(try await sandbox.run(["events", "list"]).contains("paused"))
            #expect(try await sandbox.run(["events", "resume", "1"]).contains("1 waiting deliveries queued"))
            #expect(
                await eventually(timeout: .seconds(30)) {
                    try await db.integer("SELECT count(*) FROM switchboard.event_deliveries WHERE state = 'delivered'")
                        == 2
                })
            #expect(try await sandbox.run(["events", "delete", "1"]).contains("deleted"))
            #expect(try await sandbox.run(["events", "list"]).contains("no event subscriptions"))
            worker.signal(SIGTERM)
            #expect(await worker.wait() == 0)
        }
    }
}
