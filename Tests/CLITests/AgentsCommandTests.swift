import Foundation
import TestSupport
import Testing

/// `switchboard agents`: definitions checked when stored (the error names the field in the file),
/// numbers and pools bound, listed, unbound, deleted.
@Suite struct AgentsCommandTests {
    @Test func createBindListUnbindDelete() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "a9e0", count: 8), token: "agents-token-0123456789")
            defer { sandbox.stop() }
            let directory = NSTemporaryDirectory() + "agents-cli-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let good = directory + "/agent.json"
            try
                #"{"agentType": "llm", "model": "gpt-4o-mini", "systemPrompt": "Help {{caller}}.", "tools": [{"type": "end_call"}]}"#
                .write(toFile: good, atomically: true, encoding: .utf8)
            let withTo = directory + "/bad.json"
            try #"{"agentType": "llm", "model": "m", "systemPrompt": "p", "to": "+15550001111"}"#
                .write(toFile: withTo, atomically: true, encoding: .utf8)
            let badTool = directory + "/tool.json"
            try #"{"agentType": "llm", "model": "m", "systemPrompt": "p", "tools": [{"type": "http", "name": "x"}]}"#
                .write(toFile: badTool, atomically: true, encoding: .utf8)
            let create = ["agents", "create", "--account", "main", "--name", "support", "--file"]
            for (file, message) in [
                (withTo, "--file: to: is not part of an inbound agent"),
                (badTool, "--file: tools[0].description"),
                (directory + "/missing.json", "--file: cannot read"),
            ] {
                let (status, output) = try await sandbox.outcome(create + [file])
                #expect(status == 64 && output.contains(message), "\(file): \(output)")
            }
            #expect(try await db.integer("SELECT count(*) FROM switchboard.agents") == 0)
            #expect(try await sandbox.run(create + [good]).contains("agent 'support' saved"))
            try await sandbox.run(["numbers", "add", "--account", "main", "--number", "+15557654321", "--rate", "1"])
            try await sandbox.run([
                "pools", "create", "--account", "main", "--name", "helpline", "--number", "+15557654321",
            ])
            let bind = ["agents", "bind", "--account", "main", "--agent", "support"]
            try await sandbox.run(bind + ["--number", "+1 (555) 765-4300"])
            try await sandbox.run(bind + ["--pool", "helpline"])
            for (arguments, message) in [
                (bind + ["--pool", "nope"], "--pool: no pool named 'nope'"),
                (
                    ["agents", "bind", "--account", "main", "--agent", "ghost", "--number", "+15557654300"],
                    "--agent: no agent 'ghost'"
                ),
                (bind + ["--number", "12"], "--number:"), (bind, "give one of --number or --pool"),
            ] {
                let (status, output) = try await sandbox.outcome(arguments)
                #expect(status == 64 && output.contains(message), "\(arguments): \(output)")
            }
            let listed = try await sandbox.run(["agents", "list"])
            #expect(
                listed.contains("support") && listed.contains("+15557654300") && listed.contains("pool:helpline"),
                "\(listed)")
            #expect(
                try await sandbox.run(["agents", "unbind", "--account", "main", "--pool", "helpline"]).contains(
                    "unbound"))
            let again = try await sandbox.outcome(["agents", "unbind", "--account", "main", "--pool", "helpline"])
            #expect(again.0 == 1 && again.1.contains("nothing was bound"), "\(again.1)")
            #expect(
                try await sandbox.run(["agents", "delete", "--account", "main", "--name", "support"]).contains(
                    "deleted"))
            #expect(try await db.integer("SELECT count(*) FROM switchboard.agent_bindings") == 0)
        }
    }
}
