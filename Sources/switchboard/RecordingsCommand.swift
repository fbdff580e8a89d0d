import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import Twilio

struct RecordingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recordings",
        abstract: "Call recordings: list them, delete them at Twilio and here (privacy requests).",
        discussion: """
            A `voice` or `voice_agent` job with "record": true is recorded; the recording stays at Twilio (its URL
            is in the job's result) and is never copied into the database.
            Examples:
              switchboard recordings list
              switchboard recordings list --call CA0123456789abcdef0123456789abcdef --json
              switchboard recordings delete RE0123456789abcdef0123456789abcdef
              switchboard recordings delete --call CA0123456789abcdef0123456789abcdef
            """,
        subcommands: [List.self, Delete.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The latest recordings, newest first.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Only this call's (CA…).") var call: String?
        @Option(help: "At most this many.") var limit = 50
        @OptionGroup var output: OutputOptions

        func validate() throws {
            if let call, !TwilioSID.isValid(call, prefix: "CA") {
                throw ValidationError("--call: not a call SID (CA…)")
            }
        }

        func run() async throws {
            let recordings = try await database.withPool {
                try await RecordingStore(pool: $0).list(callSID: call, limit: limit)
            }
            if output.json { return try printJSON(recordings) }
            printTable(
                ["recording", "call", "job", "status", "seconds", "channels", "url"],
                recordings.map {
                    [
                        $0.sid, $0.callSID, $0.jobID.map(String.init) ?? "-", $0.status,
                        $0.duration.map(String.init) ?? "-", $0.channels.map(String.init) ?? "-", $0.mediaURL ?? "-",
                    ]
                }, emptyMessage: "no recordings")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete recordings at Twilio, then mark them deleted here (their URL leaves the job's result).")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var twilio: TwilioOptions
        @Argument(help: "Recording SIDs (RE…).") var sids: [String] = []
        @Option(help: "Every recording of this call (CA…).") var call: String?

        func validate() throws {
            guard sids.isEmpty != (call == nil) else {
                throw ValidationError("give recording SIDs (RE…) or --call CA…")
            }
            if let bad = sids.first(where: { !TwilioSID.isValid($0, prefix: "RE") }) {
                throw ValidationError("'\(bad.prefix(40))' is not a recording SID (RE…)")
            }
            if let call, !TwilioSID.isValid(call, prefix: "CA") {
                throw ValidationError("--call: not a call SID (CA…)")
            }
        }

        func run() async throws {
            let vault = try masterKey()
            let settings = Settings(flags: database.flags.merging(twilio.flags) { $1 })
            let deleted = try await TwilioOptions.withClient(settings) { client in
                try await database.withPool { pool in
                    let recordings = RecordingStore(pool: pool)
                    let accounts = AccountStore(pool: pool, vault: vault)
                    let wanted =
                        call == nil ? sids : try await recordings.list(callSID: call, limit: 1000).map(\.sid)
                    guard !wanted.isEmpty else { throw CommandFailure("no recordings of call \(call ?? "")") }
                    var deleted = 0
                    for sid in wanted {
                        guard let accountID = try await recordings.accountID(ofRecording: sid),
                            let account = try await accounts.account(id: accountID)
                        else { throw CommandFailure("no recording \(sid) here (see `switchboard recordings list`)") }
                        let credentials = try accounts.credentials(of: account)
                        do {
                            let existed = try await client.deleteRecording(sid: sid, credentials: credentials)
                            if try await recordings.markDeleted(sid: sid) { deleted += 1 }
                            print(
                                existed
                                    ? "\(sid): deleted at Twilio and here"
                                    : "\(sid): already gone at Twilio; marked deleted here")
                        } catch let failure as TwilioClient.Failure {
                            throw CommandFailure("\(sid): Twilio did not delete it (\(failure)); nothing changed here")
                        }
                    }
                    return deleted
                }
            }
            print("\(deleted) recording(s) deleted")
        }
    }
}
