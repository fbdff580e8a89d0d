import Foundation
import TestSupport
import Testing

/// `switchboard a2p`: registering brands and campaigns, assigning pools and numbers, and what
/// `status` shows; bad input is refused naming the flag, with nothing written.
@Suite struct A2PCommandTests {
    @Test func registrationsAreCheckedAndShown() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "a2b0", count: 8), token: "a2p-token-0123456789")
            defer { sandbox.stop() }
            let classes = try await sandbox.run(["a2p", "classes"])
            #expect(classes.contains("standard_75") && classes.contains("200000"), "\(classes)")

            let refusals: [([String], String)] = [
                (
                    ["brand", "--account", "main", "--name", "acme", "--class", "platinum"],
                    "--class: no 10DLC class 'platinum'"
                ),
                (["brand", "--account", "main", "--name", "Acme Inc"], "--name:"),
                (
                    ["brand", "--account", "main", "--name", "acme", "--tmobile-per-day", "0"],
                    "--tmobile-per-day: 0 must be at least 1"
                ),
                (["brand", "--account", "nobody", "--name", "acme"], "--account: no account named 'nobody'"),
                (
                    ["campaign", "--account", "main", "--brand", "ghost", "--name", "m", "--class", "standard_75"],
                    "--brand: no brand 'ghost'"
                ),
                (
                    ["assign", "--account", "main", "--brand", "acme", "--campaign", "m"],
                    "give one of --pool or --number"
                ),
            ]
            for (arguments, message) in refusals {
                let (status, output) = try await sandbox.outcome(["a2p"] + arguments)
                #expect(status == 64, "\(arguments): \(output)")
                #expect(output.contains(message), "\(arguments): \(output)")
            }
            #expect(try await db.integer("SELECT count(*) FROM switchboard.brands") == 0, "nothing written")

            try await sandbox.run(["a2p", "brand", "--account", "main", "--name", "acme", "--class", "standard_50"])
            let noBudget = try await sandbox.outcome([
                "a2p", "campaign", "--account", "main", "--brand", "acme", "--name", "m",
            ])
            #expect(
                noBudget.0 == 64 && noBudget.1.contains("--per-minute: give the campaign's budget"), "\(noBudget.1)")
            try await sandbox.run([
                "a2p", "campaign", "--account", "main", "--brand", "acme", "--name", "marketing", "--class",
                "standard_50",
                "--per-minute", "1200",
            ])
            let unknownPool = try await sandbox.outcome([
                "a2p", "assign", "--account", "main", "--brand", "acme", "--campaign", "marketing", "--pool", "nope",
            ])
            #expect(unknownPool.0 == 64 && unknownPool.1.contains("--pool: no pool named 'nope'"), "\(unknownPool.1)")
            try await sandbox.run(["numbers", "add", "--account", "main", "--number", "+15557654321", "--rate", "5"])
            let assigned = try await sandbox.run([
                "a2p", "assign", "--account", "main", "--brand", "acme", "--campaign", "marketing", "--number",
                "+15557654321",
            ])
            #expect(assigned.contains("sends under campaign 'marketing'"), "\(assigned)")

            let budgets = try await sandbox.run(["a2p", "status"])
            // 1,200 per minute given; T-Mobile's cap from class standard_50.
            #expect(budgets.contains("acme   marketing  tmobile  20.00  1200"), "\(budgets)")
            #expect(budgets.contains("40000"), "\(budgets)")
            let status = try await sandbox.run(["status"])
            #expect(status.contains("US carrier budgets (A2P 10DLC)") && status.contains("verizon"), "\(status)")
        }
    }
}
