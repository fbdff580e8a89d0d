import EmbeddedPostgres
import Foundation
import Postgres
import SwitchboardStore
import TestSupport
import Testing

/// The processes a user runs: `switchboard simulate`, `switchboard accounts add`,
/// `switchboard send`, `switchboard worker`.
@Suite struct EndToEndCLITests {
    @Test func aQueuedSMSIsSentThroughTheSimulatorByAWorkerProcess() async throws {
        try await TestDatabase.with { db in
            let sid = "AC" + String(repeating: "5eed", count: 8)
            let token = "end-to-end-token-0123456789"
            let sandbox = try await CLISandbox.start(db, accountSID: sid, token: token)
            defer { sandbox.stop() }
            let baseURL = sandbox.baseURL
            let environment = sandbox.environment
            let send = try ChildProcess(
                try switchboardBinary(),
                [
                    "send", "sms", "--account", "main", "--from", "+15557654321", "--to", "+15559876543", "--body",
                    "Hello {{name}}", "--var", "name=Ana",
                ],
                environment: environment)
            #expect(await send.wait() == 0, "\(send.output)")
            let worker = try ChildProcess(
                try switchboardBinary(), ["worker", "--poll-interval", "200ms"], environment: environment)
            defer { worker.signal(SIGKILL) }
            #expect(
                await eventually(timeout: .seconds(30)) { try await db.jobCount(state: "completed") == 1 },
                "\(worker.output)")
            worker.signal(SIGTERM)
            #expect(await worker.wait() == 0)
            // Ask the simulator's REST API what it received, as one would ask Twilio.
            let list = try ChildProcess(
                "/usr/bin/curl",
                [
                    "-s", "-u", "\(sid):\(token)",
                    "\(baseURL)/2010-04-01/Accounts/\(sid)/Messages.json?To=%2B15559876543",
                ])
            #expect(await list.wait() == 0)
            struct Page: Decodable {
                struct Message: Decodable { var sid: String; var body: String? }
                var messages: [Message]
            }
            let page = try JSONDecoder().decode(Page.self, from: Data(list.output.utf8))
            #expect(page.messages.map(\.body) == ["Hello Ana"])
            let recorded = try await db.pool.query("SELECT sid FROM switchboard.messages").firstRow().decode(
                String.self, at: 0)
            #expect(recorded == page.messages.first?.sid)
        }
    }
}

@Suite struct CampaignCLITests {
    @Test func createImportAndStatus() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "ca3b", count: 8), token: "campaign-cli-token-0123")
            defer { sandbox.stop() }
            let bad = try await sandbox.outcome([
                "campaign", "create", "--account", "main", "--name", "spring", "--from", "+15557654321", "--body",
                "Hi {{name",
            ])
            #expect(bad.0 == 64)
            #expect(bad.1.contains("body: '{{' is never closed"))
            let created = try await sandbox.outcome([
                "campaign", "create", "--account", "main", "--name", "spring", "--from", "+15557654321", "--body",
                "Hi {{name}}",
            ])
            #expect(created.0 == 0, "\(created.1)")
            let path = NSTemporaryDirectory() + "cli-campaign-\(UInt32.random(in: 0...UInt32.max)).csv"
            try "phone,name\n+12125550001,Ana\nnot-a-number,Ben\n+12125550003,Cy\n".write(
                toFile: path, atomically: true, encoding: .utf8)
            let imported = try await sandbox.outcome([
                "campaign", "import", "--account", "main", "--name", "spring", "--file", path,
            ])
            #expect(imported.0 == 0, "\(imported.1)")
            #expect(imported.1.contains("rows 3: queued 2, duplicates 0, opted out 0, invalid 1"))
            #expect(imported.1.contains("line 3: phone: 'not-a-number' is not a valid E.164 number"))
            let status = try await sandbox.outcome([
                "campaign", "status", "--account", "main", "--name", "spring", "--json",
            ])
            // No worker runs here: both wait in the campaign for a feeder.
            #expect(
                status.1.contains(#""pending":2"#) && status.1.contains(#""recipients":2"#)
                    && status.1.contains(#""fed":0"#) && status.1.contains(#""jobs":{}"#), "\(status.1)")
            let table = try await sandbox.outcome(["campaign", "status", "--account", "main", "--name", "spring"])
            #expect(table.1.contains("recipients: 2, fed into the queue 0, waiting to be fed 2"), "\(table.1)")
            let missing = try await sandbox.outcome(["campaign", "pause", "--account", "main", "--name", "autumn"])
            #expect(missing.0 == 64)
            #expect(missing.1.contains("has no campaign 'autumn'"))
        }
    }

    /// What Excel ("CSV UTF-8") and Python's csv module write: a byte-order mark, CRLF line endings,
    /// a quoted field with a line break in it. Every row used to be invalid ("variable 'code' is
    /// missing": the last header kept its "\r"), and the command still exited 0.
    @Test func spreadsheetCSVImportsAndAFileWithNoValidRowFails() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "c5f1", count: 8), token: "campaign-csv-token-0123")
            defer { sandbox.stop() }
            let created = try await sandbox.outcome([
                "campaign", "create", "--account", "main", "--name", "excel", "--from", "+15557654321", "--body",
                "Hi {{name}}, your code is {{code}}",
            ])
            #expect(created.0 == 0, "\(created.1)")
            let path = NSTemporaryDirectory() + "cli-excel-\(UInt32.random(in: 0...UInt32.max)).csv"
            defer { try? FileManager.default.removeItem(atPath: path) }
            let excel =
                "\u{FEFF}phone,name,code\r\n+12125550001,Ana,A1\r\n+12125550002,\"Ben\r\nand Bo\",B2\r\n"
                + "+12125550003, \"Cy, Jr.\",C3\r\n"
            try excel.write(toFile: path, atomically: true, encoding: .utf8)
            let imported = try await sandbox.outcome([
                "campaign", "import", "--account", "main", "--name", "excel", "--file", path,
            ])
            #expect(imported.0 == 0, "\(imported.1)")
            #expect(imported.1.contains("rows 3: queued 3, duplicates 0, opted out 0, invalid 0"), "\(imported.1)")
            let bodies = try await db.pool.query(
                "SELECT payload_json->>'body' FROM switchboard.campaign_recipients ORDER BY recipient"
            ).map { try $0.decode(String.self, at: 0) }
            #expect(
                bodies == ["Hi Ana, your code is A1", "Hi Ben\nand Bo, your code is B2", "Hi Cy, Jr., your code is C3"])

            try "phone,name,code\r\nnot-a-number,Ann,X\r\n+12125550009,Bob\r\n".write(
                toFile: path, atomically: true, encoding: .utf8)
            let bad = try await sandbox.outcome([
                "campaign", "import", "--account", "main", "--name", "excel", "--file", path,
            ])
            #expect(bad.0 == 1, "\(bad.1)")
            #expect(bad.1.contains("rows 2: queued 0, duplicates 0, opted out 0, invalid 2"), "\(bad.1)")
            #expect(bad.1.contains("line 3: row: has 2 fields; the header has 3"), "\(bad.1)")
            #expect(bad.1.contains("no row of \(path) is valid; nothing was queued"), "\(bad.1)")
        }
    }
}
