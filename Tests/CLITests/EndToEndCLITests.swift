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
            let recorded = try await db.pool.query("SELECT sid FROM switchboard.messages")[0].decode(String.self, at: 0)
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
            func run(_ arguments: [String]) async throws -> (Int32, String) {
                let child = try sandbox.launch(arguments)
                return (await child.wait(), child.output)
            }
            let bad = try await run([
                "campaign", "create", "--account", "main", "--name", "spring", "--from", "+15557654321", "--body",
                "Hi {{name",
            ])
            #expect(bad.0 == 64)
            #expect(bad.1.contains("body: '{{' is never closed"))
            let created = try await run([
                "campaign", "create", "--account", "main", "--name", "spring", "--from", "+15557654321", "--body",
                "Hi {{name}}",
            ])
            #expect(created.0 == 0, "\(created.1)")
            let path = NSTemporaryDirectory() + "cli-campaign-\(UInt32.random(in: 0...UInt32.max)).csv"
            try "phone,name\n+12125550001,Ana\nnot-a-number,Ben\n+12125550003,Cy\n".write(
                toFile: path, atomically: true, encoding: .utf8)
            let imported = try await run([
                "campaign", "import", "--account", "main", "--name", "spring", "--file", path,
            ])
            #expect(imported.0 == 0, "\(imported.1)")
            #expect(imported.1.contains("rows 3: queued 2, duplicates 0, opted out 0, invalid 1"))
            #expect(imported.1.contains("line 3: phone: 'not-a-number' is not a valid E.164 number"))
            let status = try await run(["campaign", "status", "--account", "main", "--name", "spring", "--json"])
            #expect(status.1.contains(#""jobs":{"available":2}"#), "\(status.1)")
            let missing = try await run(["campaign", "pause", "--account", "main", "--name", "autumn"])
            #expect(missing.0 == 64)
            #expect(missing.1.contains("has no campaign 'autumn'"))
        }
    }
}
