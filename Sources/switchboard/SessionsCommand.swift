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
            """,
        subcommands: [List.self, Show.self])

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
