import EmbeddedPostgres
import Foundation
import TestSupport
import Testing

/// `--log-format json`: one JSON object per line; phone numbers masked above debug level, even
/// inside Twilio's error messages.
@Suite struct LogFormatTests {
    @Test func jsonLinesWithPhoneNumbersMasked() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "109f", count: 8), token: "log-format-token-0123")
            defer { sandbox.stop() }
            // Job ids of a long-running system (issue 11 §13: they were masked like phone numbers).
            try await db.pool.query("ALTER TABLE switchboard.jobs ALTER COLUMN id RESTART WITH 12345678")
            // The simulator refuses this number with "The 'To' number +15005550001 is not a valid phone number."
            try await sandbox.run([
                "send", "sms", "--account", "main", "--from", "+15557654321", "--to", "+15005550001", "--body", "Hi",
            ])
            let worker = try sandbox.launch(["worker", "--poll-interval", "200ms", "--log-format", "json"])
            defer { worker.signal(SIGKILL) }
            #expect(await eventually(timeout: .seconds(30)) { try await db.jobCount(state: "failed") == 1 })
            worker.signal(SIGTERM)
            #expect(await worker.wait() == 0)
            let lines = worker.output.split(separator: "\n").map(String.init)
            let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(objects.count == lines.count && !lines.isEmpty, "every line is a JSON object: \(worker.output)")
            let failure = objects.first { $0["message"] as? String == "job attempt failed" }
            #expect(failure?["level"] as? String == "notice")
            #expect((failure?["error"] as? String)?.contains("+*********01") == true, "\(failure ?? [:])")
            #expect(!worker.output.contains("5005550001"), "no phone number above debug level")
            #expect(failure?["job.id"] as? String == "12345678", "ids stay readable: \(failure ?? [:])")
        }
    }

    @Test func aBadFormatOrLevelNamesWhereItCameFrom() async throws {
        let flag = try await switchboard([
            "worker", "--log-format", "xml", "--database-url", "postgres://x@127.0.0.1/x",
        ])
        #expect(flag.status == 64)
        #expect(flag.output.contains("--log-format: 'xml' is not one of human, json"), "\(flag.output)")
        let variable = try ChildProcess(
            try switchboardBinary(), ["worker", "--database-url", "postgres://x@127.0.0.1/x"],
            environment: ["SWITCHBOARD_LOG_LEVEL": "loud"])
        #expect(await variable.wait() == 64)
        #expect(variable.output.contains("SWITCHBOARD_LOG_LEVEL: 'loud' is not one of trace"), "\(variable.output)")
    }
}
