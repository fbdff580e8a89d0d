import Foundation
import Postgres
import SwitchboardCore
import SwitchboardEvents
import SwitchboardSending
import SwitchboardStore
import SwitchboardWebhook
import SwitchboardWorker
import TestSupport
import Testing
import Twilio
import TwilioSimulator

/// LLM voice agents against a fake OpenAI-compatible server: the conversation runs across two
/// webhook hosts, rate limits are retried within the turn's deadline, a slow or failing model
/// gives the caller a fallback line, and the limits (turns, goodbye) end the call.
@Suite struct LLMAgentTests {
    static let key = "sk-test-not-a-real-key-000000"

    func request(to: String, turns: Int = 10) throws -> VoiceAgentRequest {
        var request = VoiceAgentRequest(
            account: "main", to: to, from: "+15557654321", questions: .null, variables: ["company": .string("TechCorp")]
        )
        request.agentType = "llm"
        request.questions = nil
        request.model = "gpt-4o-mini"
        request.systemPrompt = "You are a helpful customer service representative for {{company}}. Be brief."
        request.temperature = 0.7
        request.maxTokens = 150
        request.maxConversationTurns = turns
        request.greeting = "Hi, this is {{company}} support. How can I help?"
        return request
    }

    /// The model of the order conversation, running, and the webhook's settings for it; its first
    /// request is rate limited (retried within the turn's deadline).
    static func orderModel() async throws -> (FakeOpenAI, ServiceTask, LLMConfiguration) {
        let model = FakeOpenAI(port: try freeLoopbackPort(), apiKey: key) { said, number in
            if number == 1 { return .status(429) }
            if said.contains("order") && said.contains("1042") { return .text("Order 1042 shipped yesterday.") }
            return .text("I can help with that. What is your order number?")
        }
        var llm = LLMConfiguration()
        llm.baseURL = model.baseURL
        llm.apiKey = key
        return (model, try await model.start(), llm)
    }

    /// A simulator whose caller asks about an order, falls silent once, and says goodbye.
    static func orderCaller() -> TwilioSimulator {
        var simulated = SimulatorConfiguration()
        simulated.accounts = [accountSID: authToken]
        simulated.callbackStep = .milliseconds(20)
        simulated.callers["+15550009101"] = [
            .speech("Where is my order?"), .silence, .speech("It's order 1042"), .speech("Great, thanks. Bye!"),
        ]
        return TwilioSimulator(configuration: simulated)
    }

    /// The order conversation through two webhook hosts behind the balancer, over `<Gather>` (turns
    /// alternate between hosts) and over ConversationRelay (the model's answers streamed over the
    /// socket, on either host): the same transcript, tokens and rate-limit retry.
    @Test(arguments: [VoiceTransport.gather, .relay])
    func aConversationRunsAcrossTwoHostsAndEndsOnGoodbye(transport: VoiceTransport) async throws {
        let (model, modelTask, llm) = try await Self.orderModel()
        defer { modelTask.stop() }
        var order = try request(to: "+15550009101")
        order.transport = transport.rawValue
        try await Self.call(order, llm: llm, simulator: Self.orderCaller()) { db, job, simulator, proxy in
            try await Self.expectTheOrderConversation(job: job, db: db, model: model, simulator: simulator)
            #expect(proxy.servedPerBackend.allSatisfy { $0 >= 1 }, "\(proxy.servedPerBackend)")
            let twiml = await simulator.calls().first?.twiml ?? ""
            #expect(twiml.contains("<ConversationRelay") == (transport == .relay), "\(twiml)")
        }
    }

    /// Places `call` as users do — a worker, the simulator playing Twilio, two webhook hosts behind
    /// the balancer — and hands its job to `check` once its session ended.
    static func call(
        _ call: VoiceAgentRequest, llm: LLMConfiguration, simulator: TwilioSimulator, toolSecret: WebhookSecret? = nil,
        _ check: (TestDatabase, Int64, TwilioSimulator, RoundRobinProxy) async throws -> Void
    ) async throws {
        try await TestDatabase.with { db in
            let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
            let accounts = AccountStore(pool: db.pool, vault: vault)
            try await accounts.upsert(name: "main", accountSID: accountSID, secret: authToken)
            try await accounts.setCallsPerSecond(accountID: 1, 50)
            try await TwoWebhookHosts.with(db, accounts: accounts, llm: llm, toolSecret: toolSecret) {
                publicURL, proxy in
                let simulatorTask = try await simulator.start()
                defer { simulatorTask.stop() }
                let (_, handlers) = sendingThrough(
                    simulator, accounts: accounts, pool: db.pool, webhookBaseURL: publicURL)
                let job = try await withWorker(db, handlers: handlers) { _ in
                    let job = try await SendJobs.enqueue(call, store: db.store).id
                    #expect(
                        await eventually(timeout: .seconds(30)) {
                            try await db.integer(
                                "SELECT count(*) FROM switchboard.voice_sessions WHERE status = 'ended'") == 1
                        })
                    return job
                }
                try await check(db, job, simulator, proxy)
            }
        }
    }

    @Test func aSlowOrFailingModelGivesAFallbackAndTheTurnCanBeRetried() async throws {
        let model = FakeOpenAI(port: try freeLoopbackPort(), apiKey: Self.key) { said, _ in
            if said.contains("slow") { return .delayed(.seconds(3), "Too late.") }
            if said.contains("broken") { return .status(500) }
            return .text("Sure: \(said)")
        }
        let modelTask = try await model.start()
        defer { modelTask.stop() }
        var llm = LLMConfiguration()
        llm.baseURL = model.baseURL
        llm.apiKey = Self.key
        llm.turnDeadline = .seconds(1)
        try await WebhookHarness.with(llm: llm) { (hooks: WebhookHarness) async throws in
            let spec = try request(to: "+15550009102", turns: 2).resolve()
            let job = try await hooks.db.store.enqueue(NewJob(kind: "noop")).id
            let session = try await SessionStore(pool: hooks.db.pool).open(
                jobID: job, accountID: hooks.accountID, spec: spec)
            let call = sid("CA", 80)
            let path = "/twilio/voice/sessions/\(session)"
            func say(_ text: String, turn: Int) async throws -> String {
                let form: FormParameters = [
                    "CallSid": call, "AccountSid": accountSID, "SpeechResult": text, "Confidence": "0.9",
                ]
                return try await hooks.post(path + "/turns/\(turn)", form).body
            }
            let greeting = try await hooks.post(path, ["CallSid": call, "AccountSid": accountSID]).body
            #expect(greeting.contains("How can I help?"))
            #expect(
                try await say("a slow question", turn: 1).contains(TwiML.escape(Conversation.fallback)),
                "deadline missed")
            #expect(
                try await say("a broken question", turn: 2).contains(TwiML.escape(Conversation.fallback)),
                "HTTP 500 until the deadline")
            let reply = try await say("hello", turn: 3)
            #expect(reply.contains("Sure: hello") && reply.contains("<Gather"))
            let last = try await say("one more", turn: 4)
            #expect(
                last.contains("Sure: one more") && last.contains(Conversation.closing) && last.contains("<Hangup/>"))
            let result = try await hooks.db.store.job(id: job)?.result?.decode([String: JSONValue].self)
            #expect(result?["agentOutcome"] == .string("max_turns"))
            // The failed turns left nothing in the history sent to the model.
            guard case .array(let messages)? = model.requests.last?["messages"] else {
                Issue.record("no request")
                return
            }
            let users = messages.filter { $0["role"] == .string("user") }.compactMap { $0["content"]?.stringValue }
            #expect(users == ["hello", "one more"])
        }
    }

    /// What the order conversation leaves, whatever the transport: the transcript, the tokens,
    /// the model's requests, the silence answered.
    static func expectTheOrderConversation(job: Int64, db: TestDatabase, model: FakeOpenAI, simulator: TwilioSimulator)
        async throws
    {
        let result = try await db.store.job(id: job)?.result?.decode([String: JSONValue].self) ?? [:]
        #expect(result["agentOutcome"] == .string("caller_goodbye"))
        guard case .array(let transcript)? = result["transcript"] else {
            Issue.record("no transcript in \(result)")
            return
        }
        let lines = transcript.compactMap { $0["text"]?.stringValue }
        #expect(
            lines == [
                "Hi, this is TechCorp support. How can I help?", "Where is my order?",
                "I can help with that. What is your order number?", "It's order 1042",
                "Order 1042 shipped yesterday.", "Great, thanks. Bye!", Conversation.closing,
            ], "\(lines)")
        let sessionTokens = try await db.pool.query(
            "SELECT prompt_tokens, completion_tokens FROM switchboard.voice_sessions")[0]
        #expect(try sessionTokens.decode(Int.self, at: 0) > 0 && sessionTokens.decode(Int.self, at: 1) > 0)
        #expect(result["promptTokens"] == .int(Int64(try sessionTokens.decode(Int.self, at: 0))))
        // Three requests: the rate-limited one, its retry, the second question.
        let requests = model.requests
        #expect(requests.count == 3)
        for body in requests {
            guard case .array(let messages)? = body["messages"] else { continue }
            #expect(messages.first?["role"] == .string("system"))
            #expect(
                messages.first?["content"]
                    == .string("You are a helpful customer service representative for TechCorp. Be brief."))
            #expect(body["model"] == .string("gpt-4o-mini") && body["max_tokens"] == .int(150))
        }
        // What the caller heard after the silence.
        let heard = await simulator.calls().flatMap(\.transcript)
        #expect(heard.contains(.said(Conversation.stillThere)))
    }

    /// A caller who speaks over the agent, end to end over the relay through two webhook hosts:
    /// the simulator (Twilio) hears the answer's first words, sends `interrupt` and the caller's
    /// words; the webhook cancels the model's stream at once and keeps only what was heard; the
    /// conversation goes on from there. The simulator records every token with its arrival time.
    @Test func aCallerWhoInterruptsIsHeardAndTheAnswerIsCutToWhatTheyHeard() async throws {
        let held = FakeOpenAI.StreamGate()
        defer { held.open() }
        let model = FakeOpenAI(port: try freeLoopbackPort(), apiKey: Self.key) { said, number in
            if number == 1 { return .streamed(["I can", " check", " that", " for you."], gate: held) }
            if said.contains("1042") { return .text("Order 1042 shipped yesterday.") }
            return .text("Anything else?")
        }
        let modelTask = try await model.start()
        defer { modelTask.stop() }
        var llm = LLMConfiguration()
        llm.baseURL = model.baseURL
        llm.apiKey = Self.key
        var simulated = SimulatorConfiguration()
        simulated.accounts = [accountSID: authToken]
        simulated.callbackStep = .milliseconds(20)
        simulated.callers["+15550009103"] = [
            .speech("Where is my order?"), .interrupting("Actually, it's order 1042"), .speech("Bye"),
        ]
        var relay = try request(to: "+15550009103")
        relay.transport = "relay"
        try await Self.call(relay, llm: llm, simulator: TwilioSimulator(configuration: simulated)) {
            db, job, simulator, _ in
            let result = try await db.store.job(id: job)?.result?.decode([String: JSONValue].self) ?? [:]
            #expect(result["agentOutcome"] == .string("caller_goodbye"))
            guard case .array(let transcript)? = result["transcript"] else {
                Issue.record("no transcript in \(result)")
                return
            }
            #expect(
                transcript.compactMap { $0["text"]?.stringValue } == [
                    "Hi, this is TechCorp support. How can I help?", "Where is my order?", "I can",
                    "Actually, it's order 1042", "Order 1042 shipped yesterday.", "Bye", Conversation.closing,
                ], "only what the caller heard of the interrupted answer")
            let call = try #require(await simulator.calls().first)
            #expect(call.transcript.contains(.interrupted(heard: "I can")), "\(call.transcript)")
            let tokens = call.tokens.map(\.token)
            #expect(tokens.contains("I can") && !tokens.contains(" check"), "nothing after the cut: \(tokens)")
            #expect(zip(call.tokens, call.tokens.dropFirst()).allSatisfy { $0.at <= $1.at }, "timestamped in order")
            held.open()
            #expect(await eventually { model.abandonedStreams == 1 }, "the model's stream was cancelled")
        }
    }
}
