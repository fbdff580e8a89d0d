import Foundation
import HummingbirdWSClient
import Logging
import SwitchboardCore
import SwitchboardStore
import SwitchboardWebhook
import Synchronization
import TestSupport
import Testing
import Twilio

/// The ConversationRelay socket (issue 12, in progress), over a real WebSocket on loopback: the
/// upgrade is signed or refused before a socket exists, and Twilio's messages are read leniently.
@Suite struct RelayTests {
    func session(_ hooks: WebhookHarness, accountID: Int64? = nil) async throws -> Int64 {
        let questions = try JSONDecoder().decode(JSONValue.self, from: Data(ExampleFlows.survey.utf8))
        let spec = try VoiceAgentRequest(
            account: "main", to: "+15550001234", from: "+15557654321", questions: questions
        ).resolve()
        let job = try await hooks.db.store.enqueue(NewJob(kind: "noop")).id
        return try await SessionStore(pool: hooks.db.pool).open(
            jobID: job, accountID: accountID ?? hooks.accountID, spec: spec)
    }

    /// Connects as Twilio does: the `ws://` form of the public URL, signed with `token` (no
    /// signature header when nil); runs `body` on the open socket.
    func connect(
        _ hooks: WebhookHarness, session: Int64, token: String? = authToken,
        _ body: @escaping @Sendable (WebSocketOutboundWriter) async throws -> Void = { _ in }
    ) async throws {
        try await converse(hooks, session: session, token: token) { _, outbound in try await body(outbound) }
    }

    /// As `connect`, with the frames the webhook sends.
    func converse(
        _ hooks: WebhookHarness, session: Int64, token: String? = authToken,
        _ body: @escaping @Sendable (Frames, WebSocketOutboundWriter) async throws -> Void
    ) async throws {
        let path = WebhookPaths.relay(session) + "?AccountSid=\(accountSID)"
        let url = "ws" + hooks.address.dropFirst("http".count) + path
        var configuration = WebSocketClientConfiguration()
        if let token {
            let signature = TwilioSignature.compute(url: url, parameters: FormParameters(), authToken: token)
            configuration.additionalHeaders[.init("X-Twilio-Signature")!] = signature
        }
        var logger = Logger(label: "test.relay")
        logger.logLevel = .critical
        try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) {
            inbound, outbound, _ in
            try await body(Frames(inbound), outbound)
            try await outbound.close(.normalClosure, reason: nil)
        }
    }

    /// The webhook's frames, one at a time, each parsed as JSON.
    final class Frames: @unchecked Sendable {
        // One reader only: the test's own task.
        var iterator: WebSocketInboundMessageStream.AsyncIterator

        init(_ inbound: WebSocketInboundStream) {
            iterator = inbound.messages(maxSize: 1 << 16).makeAsyncIterator()
        }

        func next() async throws -> [String: JSONValue]? {
            while let message = try await iterator.next() {
                guard case .text(let text) = message else { continue }
                guard case .object(let object) = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
                    Issue.record("not a JSON object: \(text)")
                    return nil
                }
                return object
            }
            return nil
        }
    }

    static func prompt(_ words: String) -> String {
        JSONValue.object([
            "type": .string("prompt"), "voicePrompt": .string(words), "lang": .string("en-US"), "last": .bool(true),
        ])
        .jsonText
    }

    /// A survey interview over the relay, as Twilio would play it: the greeting and questions
    /// arrive as `text` (each `last`), answers go up as final prompts (one as a key, interim
    /// prompts and an interruption among them), the goodbye is followed by `end`, and the job's
    /// result holds the answers and the outcome.
    @Test func aSurveyRunsOverTheRelay() async throws {
        try await WebhookHarness.with(.live) { (hooks: WebhookHarness) async throws in
            let id = try await session(hooks)
            try await converse(hooks, session: id) { frames, outbound in
                try await outbound.write(.text(Self.setup))
                let first = try #require(try await frames.next())
                #expect(first["type"] == .string("text") && first["last"] == .bool(true))
                #expect(first["token"]?.stringValue?.contains("On a scale of 1 to 10") == true, "\(first)")
                try await outbound.write(.text(#"{"type":"prompt","voicePrompt":"ni","last":false}"#))
                try await outbound.write(.text(#"{"type":"dtmf","digit":"9"}"#))
                let second = try #require(try await frames.next())
                #expect(second["token"]?.stringValue?.contains("testimonial") == true, "\(second)")
                try await outbound.write(
                    .text(
                        #"{"type":"interrupt","utteranceUntilInterrupt":"Would you","durationUntilInterruptMs":"460"}"#)
                )
                try await outbound.write(.text(Self.prompt("Yes, happy to")))
                let third = try #require(try await frames.next())
                #expect(third["token"]?.stringValue?.contains("done better") == true, "\(third)")
                try await outbound.write(.text(Self.prompt("Nothing, it was great")))
                let goodbye = try #require(try await frames.next())
                #expect(goodbye["token"] == .string(Interview.closing))
                let end = try #require(try await frames.next())
                #expect(end["type"] == .string("end"))
                let handoff = try JSONDecoder().decode(
                    JSONValue.self, from: Data((end["handoffData"]?.stringValue ?? "").utf8))
                #expect(handoff["outcome"] == .string("completed"))
                #expect(try await frames.next() == nil, "the webhook closes the socket after end")
            }
            let stored = try #require(try await SessionStore(pool: hooks.db.pool).session(id: id))
            #expect(stored.status == .ended && stored.outcome == .completed)
            let job = try #require(stored.jobID)
            let result = try #require(try await hooks.db.store.job(id: job)?.result?.decode([String: JSONValue].self))
            #expect(result["agentOutcome"] == .string("completed"))
            #expect(result["satisfaction_rating"] == .string("9"))
            #expect(result["testimonial_request"] == .string("yes"))
            #expect(result["improvement_feedback"] == .string("Nothing, it was great"))
        }
    }

    static let setup =
        #"{"type":"setup","sessionId":"VX1","callSid":"CA00000000000000000000000000000042","from":"+15557654321","#
        + #""to":"+15550001234","direction":"outbound-api","customParameters":{}}"#

    @Test func aSignedUpgradeOpensTheSocketAndSetupBindsTheCall() async throws {
        try await WebhookHarness.with(.live) { (hooks: WebhookHarness) async throws in
            let id = try await session(hooks)
            try await connect(hooks, session: id) { outbound in
                // Hostile or unknown input first: ignored, the socket stays usable.
                try await outbound.write(.text("not json"))
                try await outbound.write(.text(#"{"type":"info","name":"roundTripDelay","value":"120"}"#))
                try await outbound.write(.text(Self.setup))
            }
            let store = SessionStore(pool: hooks.db.pool)
            #expect(
                await eventually(timeout: .seconds(10)) {
                    try await store.session(id: id)?.callSID == "CA00000000000000000000000000000042"
                })
        }
    }

    @Test func anUnsignedOrWronglySignedUpgradeIsRefusedBeforeASocketExists() async throws {
        try await WebhookHarness.with(.live) { (hooks: WebhookHarness) async throws in
            let id = try await session(hooks)
            for token in [nil, "not-the-auth-token"] as [String?] {
                await #expect(throws: (any Error).self, "token \(token ?? "none")") {
                    try await connect(hooks, session: id, token: token) { outbound in
                        try await outbound.write(.text(Self.setup))
                    }
                }
            }
            #expect(try await SessionStore(pool: hooks.db.pool).session(id: id)?.callSID == nil)
            // The same request as plain HTTP gets the signature check's answer.
            #expect(try await hooks.get(WebhookPaths.relay(id) + "?AccountSid=\(accountSID)").status == 403)
        }
    }

    @Test func anotherAccountsOrAMissingSessionIsNotUpgraded() async throws {
        try await WebhookHarness.with(.live) { (hooks: WebhookHarness) async throws in
            let otherSID = "AC" + String(repeating: "0e", count: 16)
            let other = try await hooks.accounts.upsert(
                name: "other", accountSID: otherSID, secret: "other-account-auth-token-0001")
            let theirs = try await session(hooks, accountID: other)
            for id in [theirs, 999_999] {
                await #expect(throws: (any Error).self, "session \(id)") {
                    try await connect(hooks, session: id) { outbound in try await outbound.write(.text(Self.setup)) }
                }
            }
            #expect(try await SessionStore(pool: hooks.db.pool).session(id: theirs)?.callSID == nil)
        }
    }
}

/// An LLM agent over the relay: the answer streamed token by token, an interruption that cancels
/// the model's stream and keeps only what was heard, and a model failure answered with the fallback.
@Suite struct LLMRelayTests {
    static let key = "sk-test-relay-0123456789"

    /// The webhook's model settings for `model`.
    static func llm(_ model: FakeOpenAI, turnDeadline: Duration = .seconds(5)) -> LLMConfiguration {
        var llm = LLMConfiguration()
        llm.baseURL = model.baseURL
        llm.apiKey = key
        llm.turnDeadline = turnDeadline
        return llm
    }

    /// The stored conversation's messages (none if the session holds no conversation).
    static func history(_ hooks: WebhookHarness, _ id: Int64) async throws -> [String] {
        guard case .conversation(let conversation)? = try await SessionStore(pool: hooks.db.pool).session(id: id)?.state
        else { return [] }
        return conversation.history.map(\.content)
    }

    /// An LLM agent's session over the relay, of a job of its own.
    static func conversation(_ hooks: WebhookHarness) async throws -> Int64 {
        var request = VoiceAgentRequest(account: "main", to: "+15550001234", from: "+15557654321", questions: .null)
        request.questions = nil
        request.agentType = "llm"
        request.model = "gpt-4o-mini"
        request.systemPrompt = "You are Acme's order assistant."
        request.transport = "relay"
        let job = try await hooks.db.store.enqueue(NewJob(kind: "noop")).id
        return try await SessionStore(pool: hooks.db.pool).open(
            jobID: job, accountID: hooks.accountID, spec: try request.resolve())
    }

    @Test func answersStreamInterruptionsCutAndFailuresFallBack() async throws {
        let gate = FakeOpenAI.StreamGate()
        let model = FakeOpenAI(port: try freeLoopbackPort(), apiKey: Self.key) { _, number in
            switch number {
            case 1: .streamed(["Your order", " ships", " today."])
            case 2: .streamed(["Let me"] + Array(repeating: " check", count: 300), gate: gate)
            default: .status(400)
            }
        }
        let modelTask = try await model.start()
        defer { modelTask.stop() }
        try await WebhookHarness.with(.live, llm: Self.llm(model)) { (hooks: WebhookHarness) async throws in
            let id = try await Self.conversation(hooks)
            try await RelayTests().converse(hooks, session: id) { frames, outbound in
                try await outbound.write(.text(RelayTests.setup))
                let greeting = try #require(try await frames.next())
                #expect(greeting["token"] == .string(Conversation.defaultGreeting) && greeting["last"] == .bool(true))

                try await outbound.write(.text(RelayTests.prompt("Where is my order?")))
                var tokens: [String] = []
                while let frame = try await frames.next(), frame["last"] == .bool(false) {
                    tokens.append(frame["token"]?.stringValue ?? "")
                }
                #expect(tokens == ["Your order", " ships", " today."], "streamed as generated")

                try await outbound.write(.text(RelayTests.prompt("Can you check again?")))
                let first = try #require(try await frames.next())
                #expect(first["token"] == .string("Let me") && first["last"] == .bool(false))
                try await outbound.write(
                    .text(#"{"type":"interrupt","utteranceUntilInterrupt":"Let me","durationUntilInterruptMs":"380"}"#))
                gate.open()
                #expect(await eventually { model.abandonedStreams == 1 }, "the model's stream was cancelled")

                try await outbound.write(.text(RelayTests.prompt("Hello?")))
                var fallback = try #require(try await frames.next())
                // Tokens of the cancelled answer may still have been in flight: skip them.
                while fallback["last"] == .bool(false) { fallback = try #require(try await frames.next()) }
                #expect(fallback["token"]?.stringValue?.contains(Conversation.fallback) == true, "\(fallback)")
            }
            #expect(
                try await Self.history(hooks, id) == [
                    Conversation.defaultGreeting, "Where is my order?", "Your order ships today.",
                    "Can you check again?",
                    "Let me",
                ])
            // The turns' timings, as the webhook measured them: the streamed answer's first token,
            // and the interruption's cancel.
            let timed = try await hooks.db.pool.query(
                """
                SELECT first_token_ms, model_first_token_ms, cancel_ms FROM switchboard.voice_turns
                WHERE session_id = \(id) AND (first_token_ms IS NOT NULL OR cancel_ms IS NOT NULL) ORDER BY turn
                """)
            #expect(timed.count == 2, "the first answer and the interruption carry timings")
            if timed.count == 2 {
                let firstToken = try #require(try timed[0].decode(Double?.self, at: 0))
                let modelFirstToken = try #require(try timed[0].decode(Double?.self, at: 1))
                #expect(modelFirstToken > 0 && modelFirstToken <= firstToken, "\(modelFirstToken) ≤ \(firstToken)")
                #expect(try timed[1].decode(Double?.self, at: 2).map { $0 >= 0 } == true)
            }
        }
    }

    /// The model is asked the moment the caller's words arrive, from what the socket last stored,
    /// while they are stored: a database that stalls the store does not delay the first token.
    /// The answer is stored only after the words it answers.
    @Test func theAnswerStartsWhileTheCallersWordsAreStillBeingStored() async throws {
        let model = FakeOpenAI(port: try freeLoopbackPort(), apiKey: Self.key) { _, _ in
            .streamed(["Your order", " ships", " today."])
        }
        let modelTask = try await model.start()
        defer { modelTask.stop() }
        // A generous deadline: a loaded machine must not turn a slow first token into a fallback
        // (which waits for the store, which waits for this test).
        try await WebhookHarness.with(.live, llm: Self.llm(model, turnDeadline: .seconds(40))) {
            (hooks: WebhookHarness) async throws in
            let id = try await Self.conversation(hooks)
            try await RelayTests().converse(hooks, session: id) { frames, outbound in
                try await outbound.write(.text(RelayTests.setup))
                _ = try #require(try await frames.next())
                // Another transaction holds the session's row: storing the caller's words waits.
                let locked = FakeOpenAI.StreamGate()
                let release = FakeOpenAI.StreamGate()
                let holder = Task {
                    try await hooks.db.pool.transaction { connection in
                        try await connection.query(
                            "SELECT id FROM switchboard.voice_sessions WHERE id = \(id) FOR UPDATE")
                        locked.open()
                        await release.wait()
                    }
                }
                await locked.wait()
                // Without the early start the answer would wait for the store, and the store for
                // this test: after 20 s the lock is let go, and the test fails instead of hanging.
                let letGo = Mutex(false)
                let watchdog = Task {
                    try await Task.sleep(for: .seconds(20))
                    letGo.withLock { $0 = true }
                    release.open()
                }
                defer { watchdog.cancel() }
                try await outbound.write(.text(RelayTests.prompt("Where is my order?")))
                let first = try #require(try await frames.next())
                #expect(first["token"] == .string("Your order"), "\(first)")
                #expect(!letGo.withLock { $0 }, "the first token came while the row was locked")
                #expect(model.requests.count == 1)
                release.open()
                try await holder.value
                var tokens = [first["token"]?.stringValue ?? ""]
                var frame = try #require(try await frames.next())
                while frame["last"] != .bool(true) {
                    tokens.append(frame["token"]?.stringValue ?? "")
                    frame = try #require(try await frames.next())
                }
                #expect(tokens == ["Your order", " ships", " today."])
            }
            #expect(
                try await Self.history(hooks, id) == [
                    Conversation.defaultGreeting, "Where is my order?", "Your order ships today.",
                ], "stored in the order said")
        }
    }

    /// A model that stalls: before its first token, past the turn's deadline, the caller hears
    /// the fallback; after it, the answer ends with what was said. Either way the call goes on.
    @Test func aStalledModelGivesTheFallbackOrEndsTheAnswerAndTheCallGoesOn() async throws {
        let never = FakeOpenAI.StreamGate()
        defer { never.open() }
        let model = FakeOpenAI(port: try freeLoopbackPort(), apiKey: Self.key) { _, number in
            switch number {
            case 1: .delayed(.seconds(4), "Too late.")
            case 2: .streamed(["Let me", " check"], gate: never)
            default: .text("Found it.")
            }
        }
        let modelTask = try await model.start()
        defer { modelTask.stop() }
        var llm = Self.llm(model, turnDeadline: .seconds(1))
        llm.tokenStall = .milliseconds(300)
        try await WebhookHarness.with(.live, llm: llm) { (hooks: WebhookHarness) async throws in
            let id = try await Self.conversation(hooks)
            try await RelayTests().converse(hooks, session: id) { frames, outbound in
                try await outbound.write(.text(RelayTests.setup))
                _ = try #require(try await frames.next())
                try await outbound.write(.text(RelayTests.prompt("Where is my order?")))
                let fallback = try #require(try await frames.next())
                #expect(
                    fallback["last"] == .bool(true)
                        && fallback["token"]?.stringValue?.contains("say that again") == true, "\(fallback)")

                try await outbound.write(.text(RelayTests.prompt("My order, please.")))
                let first = try #require(try await frames.next())
                #expect(first["token"] == .string("Let me") && first["last"] == .bool(false))
                let end = try #require(try await frames.next())
                #expect(end["last"] == .bool(true) && end["token"] == .string(""), "ended with what was said: \(end)")

                try await outbound.write(.text(RelayTests.prompt("Well?")))
                var reply = ""
                while let frame = try await frames.next() {
                    reply += frame["token"]?.stringValue ?? ""
                    if frame["last"] == .bool(true) { break }
                }
                #expect(reply == "Found it.", "the call goes on")
            }
            never.open()
            #expect(await eventually { model.abandonedStreams >= 1 }, "the stalled stream was ended at the model")
            #expect(
                try await Self.history(hooks, id) == [
                    Conversation.defaultGreeting, "My order, please.", "Let me", "Well?", "Found it.",
                ])
        }
    }
}
