import Foundation
import TestSupport
import Testing

/// `switchboard recordings`: listing, and deleting at Twilio (here the simulator, which no longer
/// has this recording: 404) then here; bad SIDs refused naming them.
@Suite struct RecordingsCommandTests {
    @Test func listAndDelete() async throws {
        try await TestDatabase.with { db in
            let account = "AC" + String(repeating: "7ec0", count: 8)
            let sandbox = try await CLISandbox.start(db, accountSID: account, token: "recordings-token-0123456789")
            defer { sandbox.stop() }
            let call = "CA" + String(repeating: "ab", count: 16)
            let recording = "RE" + String(repeating: "cd", count: 16)
            try await db.pool.query(
                """
                INSERT INTO switchboard.calls (sid, account_id, to_address, from_address, status)
                VALUES (\(call), 1, '+15550001234', '+15557654321', 'completed')
                """)
            try await db.pool.query(
                """
                INSERT INTO switchboard.recordings (sid, account_id, call_sid, status, duration_s, channels, media_url)
                VALUES (\(recording), 1, \(call), 'completed', 12, 1, 'https://api.twilio.com/x/Recordings/' || \(recording))
                """)
            let listed = try await sandbox.run(["recordings", "list"])
            #expect(listed.contains(recording) && listed.contains("completed"), "\(listed)")
            for (arguments, message) in [
                (["recordings", "delete", "RE123"], "'RE123' is not a recording SID"),
                (["recordings", "delete"], "give recording SIDs"),
                (["recordings", "list", "--call", "CA1"], "--call: not a call SID"),
            ] {
                let (status, output) = try await sandbox.outcome(arguments)
                #expect(status == 64 && output.contains(message), "\(arguments): \(output)")
            }
            let unknown = try await sandbox.outcome(["recordings", "delete", "RE" + String(repeating: "ef", count: 16)])
            #expect(unknown.0 == 1 && unknown.1.contains("no recording"), "\(unknown.1)")
            let deleted = try await sandbox.run(["recordings", "delete", "--call", call])
            #expect(deleted.contains("already gone at Twilio; marked deleted here"), "\(deleted)")
            let row = try await db.pool.query(
                "SELECT status, media_url FROM switchboard.recordings WHERE sid = \(recording)")
            #expect(try row.first?.decode(String.self, at: 0) == "deleted")
            #expect(try row.first?.decode(String?.self, at: 1) == nil)
        }
    }
}
