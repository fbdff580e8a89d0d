import EmbeddedPostgres
import Foundation
import TestSupport
import Testing

/// The commands an operator runs against a live system: status, jobs, optouts.
@Suite struct OperatorCommandsTests {
    @Test func statusJobsAndOptouts() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "0be7", count: 8), token: "operator-token-0123456")
            defer { sandbox.stop() }
            try await sandbox.run(["numbers", "add", "--account", "main", "--number", "+15557654321", "--rate", "5"])
            // Delivered, refused by Twilio (21211 names the number), and one that stays waiting.
            for to in ["+15559876543", "+15005550001"] {
                try await sandbox.run([
                    "send", "sms", "--account", "main", "--from", "+15557654321", "--to", to, "--body", "Hi",
                ])
            }
            let worker = try sandbox.launch(["worker", "--poll-interval", "200ms"])
            #expect(
                await eventually(timeout: .seconds(30)) {
                    let completed = try await db.jobCount(state: "completed")
                    let failed = try await db.jobCount(state: "failed")
                    return completed == 1 && failed == 1
                }, "\(worker.output)")
            worker.signal(SIGTERM)
            #expect(await worker.wait() == 0)
            try await db.pool.query("SELECT switchboard.enqueue('noop', '{}'::jsonb, queue => 'later')")

            let status = try await sandbox.outcome(["status"])
            #expect(status.0 == 0, "\(status.1)")
            #expect(status.1.contains("later  noop  available  1"), "\(status.1)")
            #expect(status.1.contains("sms   completed  1"), "\(status.1)")
            #expect(status.1.contains("sms   failed     1"), "\(status.1)")
            #expect(status.1.contains("main     +15557654321  5"), "\(status.1)")
            #expect(status.1.contains("send   21211  1"), "\(status.1)")
            #expect(status.1.contains("Queue table: ") && status.1.contains(" dead, oldest open transaction "))
            let statusJSON = try await sandbox.outcome(["status", "--json"])
            let report = try JSONSerialization.jsonObject(with: Data(statusJSON.1.utf8)) as? [String: Any]
            #expect((report?["queue"] as? [[String: Any]])?.first?["queue"] as? String == "later", "\(statusJSON.1)")

            let failed = try await sandbox.outcome(["jobs", "list", "--state", "failed", "--json"])
            let failedJobs = try JSONSerialization.jsonObject(with: Data(failed.1.utf8)) as? [[String: Any]] ?? []
            #expect(failedJobs.count == 1 && failedJobs[0]["kind"] as? String == "sms", "\(failed.1)")
            let failedID = failedJobs.first?["id"] as? Int ?? 0
            let table = try await sandbox.outcome(["jobs", "list"])
            #expect(table.1.hasPrefix("ID  KIND  QUEUE    STATE"), "\(table.1)")
            #expect(table.1.contains("twilio 21211"), "\(table.1)")

            let waitingID = try await db.integer("SELECT id FROM switchboard.all_jobs WHERE queue = 'later'")
            let cancelled = try await sandbox.outcome(["jobs", "cancel", "\(waitingID)", "\(failedID)"])
            #expect(cancelled.1.contains("cancelled 1 job(s): \(waitingID)"), "\(cancelled.1)")
            #expect(cancelled.1.contains("skipped \(failedID): already finished"), "\(cancelled.1)")
            let retried = try await sandbox.outcome(["jobs", "retry", "\(failedID)", "\(waitingID)"])
            #expect(retried.1.contains("retried 2 job(s)"), "\(retried.1)")
            #expect(try await db.jobCount(state: "available") == 2)
            let shown = try await sandbox.outcome(["jobs", "show", "\(failedID)", "--json"])
            #expect(shown.1.contains(#""state":"available""#) && shown.1.contains(#""maxAttempts":10"#), "\(shown.1)")
            try await db.pool.query(
                "UPDATE switchboard.jobs SET finished_at = now() - interval '40 days' WHERE state = 'completed'")
            let purged = try await sandbox.outcome(["jobs", "purge", "--older-than", "30d"])
            #expect(purged.1.contains("deleted 1 job(s)"), "\(purged.1)")
            let badState = try await sandbox.outcome(["jobs", "list", "--state", "done"])
            #expect(
                badState.0 == 64 && badState.1.contains("--state: 'done' is not one of scheduled, available"),
                "\(badState.1)")
            let noJob = try await sandbox.outcome(["jobs", "show", "999999"])
            #expect(noJob.0 == 64 && noJob.1.contains("see `switchboard jobs list`"), "\(noJob.1)")

            let added = try await sandbox.outcome([
                "optouts", "add", "--account", "main", "--number", "+15551112222", "--reason", "asked by email",
            ])
            #expect(added.0 == 0, "\(added.1)")
            let listed = try await sandbox.outcome(["optouts", "list", "--account", "main"])
            #expect(listed.1.contains("+15551112222  account  asked by email"), "\(listed.1)")
            let removed = try await sandbox.outcome([
                "optouts", "remove", "--account", "main", "--number", "+15551112222",
            ])
            #expect(removed.1.contains("removed 1 suppression(s)"), "\(removed.1)")
            let history = try await sandbox.outcome([
                "optouts", "history", "--account", "main", "--number", "+15551112222",
            ])
            #expect(history.1.contains("opt_out") && history.1.contains("opt_in"), "\(history.1)")
            let badNumber = try await sandbox.outcome(["optouts", "add", "--account", "main", "--number", "12"])
            #expect(badNumber.0 == 64 && badNumber.1.contains("--number"), "\(badNumber.1)")
            let badSession = try await sandbox.outcome(["sessions", "show"])
            #expect(badSession.0 == 64 && badSession.1.contains("give one of: a session id"), "\(badSession.1)")
        }
    }
}

/// Numbers and pools managed from the command line, including a CSV import that stores all or nothing.
@Suite struct NumbersAndPoolsCommandsTests {
    @Test func importUpdateRemoveAndPools() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "9a1e", count: 8), token: "numbers-token-0123456")
            defer { sandbox.stop() }
            let directory = NSTemporaryDirectory() + "numbers-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try "PhoneNumber,SmsEnabled,VoiceEnabled\n+15551230001,true,true\n+15551230002,yes,no\n+1555,true,true\n"
                .write(
                    toFile: directory + "/bad.csv", atomically: true, encoding: .utf8)
            let refused = try await sandbox.outcome([
                "numbers", "import", "--account", "main", "--file", directory + "/bad.csv",
            ])
            #expect(refused.0 == 64 && refused.1.contains("line 4: address: '+1555'"), "\(refused.1)")
            #expect(refused.1.contains("nothing was stored"))
            #expect(try await db.integer("SELECT count(*) FROM switchboard.senders") == 0, "all or nothing")

            try "PhoneNumber,SmsEnabled,VoiceEnabled,Rate\n+15551230001,true,true,2\n+15551230002,yes,no,\n".write(
                toFile: directory + "/good.csv", atomically: true, encoding: .utf8)
            let imported = try await sandbox.outcome([
                "numbers", "import", "--account", "main", "--file", directory + "/good.csv", "--pool", "marketing",
            ])
            #expect(imported.1.contains("stored 2 sender(s), all in pool 'marketing'"), "\(imported.1)")
            let pools = try await sandbox.outcome(["pools", "list"])
            #expect(pools.1.contains("main     marketing  yes     +15551230001 +15551230002"), "\(pools.1)")

            let updated = try await sandbox.outcome([
                "numbers", "update", "--account", "main", "--number", "+15551230002", "--rate", "5", "--burst", "7",
                "--disable",
            ])
            #expect(updated.0 == 0, "\(updated.1)")
            let listed = try await sandbox.outcome(["numbers", "list", "--json"])
            #expect(listed.1.contains(#""rate" : 5"#) && listed.1.contains(#""enabled" : false"#), "\(listed.1)")
            #expect(listed.1.contains(#""burst" : 7"#), "numbers list shows the burst: \(listed.1)")
            let table = try await sandbox.outcome(["numbers", "list"])
            #expect(table.1.contains("LIMIT/S  BURST"), "\(table.1)")
            let row = table.1.split(separator: "\n").first { $0.contains("+15551230002") }.map(String.init) ?? ""
            #expect(row.split(separator: " ").prefix(4) == ["main", "+15551230002", "5", "7"], "\(table.1)")
            let badRate = try await sandbox.outcome([
                "numbers", "update", "--account", "main", "--number", "+15551230002", "--rate", "0",
            ])
            #expect(
                badRate.0 == 64 && badRate.1.contains("--rate: 0.0 is outside 0.001…10000 segments per second"),
                "\(badRate.1)")
            // Issue 11 §12: 1e-300 was accepted and then failed every send ("interval out of range").
            for rate in ["1e-300", "1e12", "1e308", "nan"] {
                let added = try await sandbox.outcome([
                    "numbers", "add", "--account", "main", "--number", "+15551230009", "--rate", rate,
                ])
                #expect(added.0 == 64 && added.1.contains("--rate: "), "\(rate): \(added.1)")
            }
            let nothing = try await sandbox.outcome([
                "numbers", "update", "--account", "main", "--number", "+15551230002",
            ])
            #expect(nothing.0 == 64 && nothing.1.contains("nothing to change"), "\(nothing.1)")

            let out = try await sandbox.outcome([
                "pools", "remove-number", "--account", "main", "--name", "marketing", "--number", "+15551230001",
            ])
            #expect(out.1.contains("took 1 number(s) out of pool 'marketing'"), "\(out.1)")
            let removed = try await sandbox.outcome([
                "numbers", "remove", "--account", "main", "--number", "+15551230002",
            ])
            #expect(removed.0 == 0)
            #expect(try await sandbox.outcome(["pools", "list"]).1.contains("marketing  yes"))
            #expect(try await db.integer("SELECT count(*) FROM switchboard.pool_senders") == 0)
            let missing = try await sandbox.outcome([
                "numbers", "remove", "--account", "main", "--number", "+15551230002",
            ])
            #expect(missing.0 == 64 && missing.1.contains("is not a sender of 'main'"), "\(missing.1)")
            #expect(try await sandbox.outcome(["pools", "delete", "--account", "main", "--name", "marketing"]).0 == 0)
            let gone = try await sandbox.outcome(["pools", "delete", "--account", "main", "--name", "marketing"])
            #expect(gone.0 == 64 && gone.1.contains("has no pool 'marketing'"), "\(gone.1)")
        }
    }
}

/// `send voice-agent`: a scripted interview from a JSON file, or an LLM agent; checked before queueing.
@Suite struct SendVoiceAgentTests {
    @Test func interviewsAndLLMAgentsAreQueuedAndBadFlowsRefused() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "a9e7", count: 8), token: "voice-agent-token-0123")
            defer { sandbox.stop() }
            let path = NSTemporaryDirectory() + "flow-\(UInt32.random(in: 0...UInt32.max)).json"
            defer { try? FileManager.default.removeItem(atPath: path) }
            let base = ["send", "voice-agent", "--account", "main", "--from", "+15557654321", "--to", "+15559876543"]
            try #"[{"id": "name", "question": "What is your name, {{caller}}?", "expectedAnswerType": "text"}]"#.write(
                toFile: path, atomically: true, encoding: .utf8)
            let queued = try await sandbox.outcome(base + ["--questions", path, "--var", "caller=friend", "--json"])
            #expect(queued.0 == 0, "\(queued.1)")
            let llm = try await sandbox.outcome(
                base + [
                    "--system-prompt", "You help {{company}} customers.", "--var", "company=Acme", "--model",
                    "gpt-4o-mini",
                ])
            #expect(llm.0 == 0 && llm.1.contains("queued voice-agent job"), "\(llm.1)")
            #expect(try await db.integer("SELECT count(*) FROM switchboard.all_jobs WHERE kind = 'voice_agent'") == 2)

            try #"[{"id": "name", "question": "Name?", "expectedAnswerType": "colour"}]"#.write(
                toFile: path, atomically: true, encoding: .utf8)
            let badFlow = try await sandbox.outcome(base + ["--questions", path])
            #expect(badFlow.0 == 64 && badFlow.1.contains("expectedAnswerType"), "\(badFlow.1)")
            let neither = try await sandbox.outcome(base)
            #expect(neither.0 == 64 && neither.1.contains("needs either --questions"), "\(neither.1)")
            let missingVariable = try await sandbox.outcome(
                base + ["--system-prompt", "You help {{company}} customers.", "--model", "gpt-4o-mini"])
            #expect(missingVariable.0 == 64 && missingVariable.1.contains("company"), "\(missingVariable.1)")
            #expect(
                try await db.integer("SELECT count(*) FROM switchboard.all_jobs") == 2, "nothing queued by the refusals"
            )
        }
    }
}
