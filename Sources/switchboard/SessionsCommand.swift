import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardStore

struct SessionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "Voice-agent sessions: recent ones, and one session's transcript and answers.",
        discussion: """
            Examples:
              switchboard sessions list
              switchboard sessions show 12
              switchboard sessions show --call CA0123456789abcdef0123456789abcdef
              switchboard sessions show --job 42 --json
              switchboard sessions watch --call CA0123456789abcdef0123456789abcdef
            """,
        subcommands: [List.self, Show.self, Watch.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The latest sessions, newest first.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "At most this many.") var limit = 20
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let sessions = try await database.withPool { try await SessionStore(pool: $0).recent(limit: limit) }
            if output.json { return try printJSON(sessions.map(SessionView.init)) }
            printTable(
                ["id", "job", "agent", "to", "status", "outcome", "turns", "call"],
                sessions.map {
                    [
                        "\($0.id)", $0.jobID.map(String.init) ?? "-", $0.spec.agentType, $0.spec.to, $0.status.rawValue,
                        $0.outcome?.rawValue ?? "-", "\($0.turn)", $0.callSID ?? "-",
                    ]
                }, emptyMessage: "no voice sessions yet")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One session's transcript and answers.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Session id.") var id: Int64?
        @Option(help: "Find it by its call's SID instead.") var call: String?
        @Option(help: "Find it by its job's id instead.") var job: Int64?
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard [id != nil, call != nil, job != nil].filter({ $0 }).count == 1 else {
                throw ValidationError(
                    "give one of: a session id (`sessions show 12`), --call CA…, or --job 42 (see `switchboard sessions list`)"
                )
            }
        }

        func run() async throws {
            guard
                let session = try await database.withPool({
                    try await SessionStore(pool: $0).find(id: id, callSID: call, jobID: job)
                })
            else {
                throw ValidationError("no such voice session (see `switchboard sessions list`)")
            }
            let view = SessionView(session)
            if output.json { return try printJSON(view) }
            printFields([
                ("session", "\(view.id)"), ("job", view.jobId.map(String.init) ?? "-"), ("agent", view.agentType),
                ("to", view.to), ("from", view.from), ("call", view.callSid ?? "-"), ("status", view.status.rawValue),
                ("outcome", view.outcome ?? "-"), ("turns", "\(view.turns)"),
            ])
            if !view.answers.isEmpty {
                print("\nAnswers")
                printTable(["question", "answer"], view.answers.sorted { $0.key < $1.key }.map { [$0.key, $0.value] })
            }
            print("\nTranscript")
            if view.transcript.isEmpty { print("  (nothing said yet)") }
            for line in view.transcript {
                print("  " + (line.speaker == .agent ? "Agent:  " : "Caller: ") + line.text)
            }
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow a live call's transcript until the session ends.",
            discussion: """
                Prints each line as it is stored (a turn at a time, on either transport), marks an
                answer the caller interrupted as cut to what was heard, and ends with the outcome
                (exit status 0). With --call, waits for the call's session to appear. --json prints
                one JSON object per line: {"index","speaker","text"} for a line, "revised": true
                for a changed one, and {"status","outcome"} at the end.
                """)
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Session id.") var id: Int64?
        @Option(help: "Find it by its call's SID instead.") var call: String?
        @Option(help: "Find it by its job's id instead.") var job: Int64?
        @Option(help: "How often to look for new lines, e.g. 250ms.") var interval = "250ms"
        @Option(help: "Give up waiting for the session after this long, e.g. 2m.") var wait = "2m"
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard [id != nil, call != nil, job != nil].filter({ $0 }).count == 1 else {
                throw ValidationError("give one of: a session id (`sessions watch 12`), --call CA…, or --job 42")
            }
            if let call, !TwilioSID.isValid(call, prefix: "CA") {
                throw ValidationError("--call: '\(call.prefix(40))' is not a call SID (CA and 32 hex digits)")
            }
            let every = try parseDuration(interval, flag: "--interval")
            guard every >= .milliseconds(50) else { throw ValidationError("--interval must be at least 50ms") }
            _ = try parseDuration(wait, flag: "--wait")
        }

        func run() async throws {
            let every = try parseDuration(interval, flag: "--interval")
            let patience = try parseDuration(wait, flag: "--wait")
            try await database.withPool { pool in
                let sessions = SessionStore(pool: pool)
                let giveUp = ContinuousClock.now + patience
                var found = try await sessions.find(id: id, callSID: call, jobID: job)
                if found == nil, !output.json { print("waiting for the session to start…") }
                while found == nil {
                    guard ContinuousClock.now < giveUp else {
                        throw ValidationError("no such voice session within \(wait) (see `switchboard sessions list`)")
                    }
                    try await Task.sleep(for: every)
                    found = try await sessions.find(id: id, callSID: call, jobID: job)
                }
                guard var session = found else { return }
                if !output.json {
                    print(
                        "session \(session.id) · \(session.spec.agentType) agent · to \(session.spec.to) · "
                            + "\(session.spec.transport?.rawValue ?? "gather")")
                }
                var follower = TranscriptFollower()
                while true {
                    for change in follower.update(session.state?.spokenLines ?? []) { try show(change) }
                    if session.status == .ended { break }
                    try await Task.sleep(for: every)
                    guard let next = try await sessions.session(id: session.id) else { break }
                    session = next
                }
                if output.json {
                    try printLine([
                        "status": .string(session.status.rawValue),
                        "outcome": session.outcome.map { .string($0.rawValue) } ?? .null,
                    ])
                } else {
                    print("— ended: \(session.outcome?.rawValue ?? "no outcome")")
                }
            }
        }

        private func show(_ change: TranscriptFollower.Change) throws {
            switch change {
            case .said(let index, let line):
                if output.json {
                    try printLine([
                        "index": .int(Int64(index)), "speaker": .string(line.speaker.rawValue),
                        "text": .string(line.text),
                    ])
                } else {
                    print((line.speaker == .agent ? "Agent:  " : "Caller: ") + line.text)
                }
            case .revised(let index, let line):
                if output.json {
                    try printLine([
                        "index": .int(Int64(index)), "revised": .bool(true),
                        "text": line.map { .string($0.text) } ?? .null,
                    ])
                } else if let line {
                    print("        (interrupted; the caller heard: \(line.text))")
                } else {
                    print("        (interrupted before a word was heard)")
                }
            }
            fflush(nil)
        }

        private func printLine(_ object: [String: JSONValue]) throws {
            print(JSONValue.object(object).jsonText)
        }
    }
}

/// A session as `sessions` prints it (and the dashboard shows it).
struct SessionView: Encodable {
    var id: Int64
    var jobId: Int64?
    var agentType: String
    var to: String
    var from: String
    var callSid: String?
    var status: SessionStatus
    var outcome: String?
    var turns: Int
    var answers: [String: String]
    var transcript: [SessionState.SpokenLine]

    init(_ session: VoiceSession) {
        id = session.id
        jobId = session.jobID
        agentType = session.spec.agentType
        to = session.spec.to
        from = session.spec.from
        callSid = session.callSID
        status = session.status
        outcome = session.outcome?.rawValue
        turns = session.turn
        answers = session.state?.answers ?? [:]
        transcript = session.state?.spokenLines ?? []
    }
}
