import EmbeddedPostgres
import Foundation
import SwitchboardCore
import SwitchboardStore
import TestSupport
import Testing

/// `switchboard sessions watch`: a live transcript in the terminal, line by line as turns are
/// stored, an interrupted answer shown cut to what was heard, and the outcome at the end.
@Suite struct SessionsWatchTests {
    static let call = "CA" + String(repeating: "7a", count: 16)

    @Test func followsACallFromBeforeItStartsToItsEnd() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "3a7c", count: 8), token: "watch-token-0123456789")
            defer { sandbox.stop() }
            let watch = try sandbox.launch(["sessions", "watch", "--call", Self.call, "--json", "--interval", "50ms"])
            defer { watch.signal(SIGKILL) }

            var request = VoiceAgentRequest(
                account: "main", to: "+15550001234", from: "+15557654321", questions: .null)
            request.questions = nil
            request.agentType = "llm"
            request.model = "gpt-4o-mini"
            request.systemPrompt = "Be brief."
            request.transport = "relay"
            let spec = try request.resolve()
            let settings = try #require(spec.llm)
            let sessions = SessionStore(pool: db.pool)
            let job = try await db.store.enqueue(NewJob(kind: "noop")).id
            let accountID = try await db.integer("SELECT id FROM switchboard.accounts WHERE name = 'main'")
            let id = try await sessions.open(jobID: job, accountID: Int64(accountID), spec: spec)
            // Each step is stored once the watcher showed the previous one, so none is skipped.
            func store(_ conversation: Conversation, ended: AgentOutcome? = nil, thenShows text: String) async throws {
                _ = try await sessions.takeTurn(sessionID: id, accountID: Int64(accountID), callSID: Self.call) { _ in
                    .produce(state: .conversation(conversation), twiml: "", ended: ended)
                }
                #expect(await eventually(timeout: .seconds(10)) { watch.output.contains(text) }, "\(watch.output)")
            }
            var conversation = Conversation()
            _ = conversation.start(greeting: "Hello, Acme here.")
            try await store(conversation, thenShows: "Hello, Acme here.")
            _ = conversation.hear(
                CallerInput(speech: "Where is my order?", confidence: 1), settings: settings, elapsed: 3)
            _ = conversation.reply(
                "It ships today, and the tracking number follows by text.", promptTokens: 5, completionTokens: 9,
                settings: settings)
            try await store(conversation, thenShows: "tracking number")
            conversation.interrupted(heard: "It ships today")
            try await store(conversation, thenShows: #""revised":true"#)
            _ = conversation.hear(CallerInput(speech: "Thanks, bye", confidence: 1), settings: settings, elapsed: 9)
            try await store(conversation, ended: .callerGoodbye, thenShows: "caller_goodbye")

            #expect(await watch.wait() == 0, "\(watch.output)")
            let lines = watch.output.split(separator: "\n").compactMap {
                try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8))
            }
            let texts = lines.compactMap { $0["revised"] == nil ? $0["text"]?.stringValue : nil }
            #expect(
                texts == [
                    "Hello, Acme here.", "Where is my order?",
                    "It ships today, and the tracking number follows by text.",
                    "Thanks, bye", Conversation.closing,
                ], "\(watch.output)")
            #expect(
                lines.contains {
                    $0["revised"] == .bool(true) && $0["index"] == .int(2) && $0["text"] == .string("It ships today")
                })
            #expect(lines.last == .object(["status": .string("ended"), "outcome": .string("caller_goodbye")]))

            // The terminal form of the same, once the session has ended.
            let shown = try await sandbox.run(["sessions", "watch", "\(id)"])
            #expect(
                shown.contains("Caller: Where is my order?") && shown.contains("— ended: caller_goodbye"), "\(shown)")
        }
    }

    @Test func refusesWhatItCannotWatch() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "3a7d", count: 8), token: "watch-token-0123456789")
            defer { sandbox.stop() }
            for (arguments, named) in [
                (["sessions", "watch"], "give one of"), (["sessions", "watch", "--call", "CA12"], "--call"),
                (["sessions", "watch", "3", "--interval", "1ms"], "--interval"),
                (["sessions", "watch", "3", "--wait", "soon"], "--wait"),
            ] {
                let (status, output) = try await sandbox.outcome(arguments)
                #expect(status == 64 && output.contains(named), "\(arguments): \(output)")
            }
            let (status, output) = try await sandbox.outcome(["sessions", "watch", "99", "--wait", "200ms"])
            #expect(status != 0 && output.contains("no such voice session"), "\(output)")
        }
    }
}
