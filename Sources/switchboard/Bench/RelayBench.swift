import ArgumentParser
import AsyncHTTPClient
import EmbeddedPostgres
import Foundation
import HummingbirdWSClient
import Logging
import Postgres
import ServiceTask
import SwitchboardCore
import SwitchboardStore
import Synchronization
import Twilio

struct RelayBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract:
            "Live ConversationRelay calls through one `switchboard webhook` process against a streaming model.",
        discussion: """
            Each step starts a fresh `switchboard webhook` process and holds that many calls open at
            once. Each call is Twilio's side of a relay socket: setup, then answers to the agent with
            a pause before each (the caller speaking), the last one interrupting the answer, then
            goodbye. The model (in this process) answers every request after --ttft with --tokens
            tokens at --token-rate. Reported per step: the latency Switchboard adds (final prompt
            sent → first token received, minus the model's own time to first token), the webhook's
            own record of it in Postgres, interrupt → model stream cancelled (webhook-measured),
            the webhook's memory per live call, and the database connections busy while answers
            stream.
            """)

    @OptionGroup var options: BenchOptions
    @Option(help: "Concurrent calls of each step, comma-separated.") var calls = "100,250,500"
    @Option(help: "The model's time to first token.") var ttft = "300ms"
    @Option(help: "The model's tokens per second.") var tokenRate = 40.0
    @Option(help: "Tokens per answer.") var tokens = 20
    @Option(help: "Answers per call (the last one is interrupted).") var turns = 3
    @Option(help: "The caller's speaking time before each prompt (each between half and 1.5 times this).")
    var pause = "1500ms"

    static let budget = 10.0

    func validate() throws {
        guard !steps.isEmpty, steps.allSatisfy({ $0 >= 1 && $0 <= 5000 }) else {
            throw ValidationError("--calls must be numbers between 1 and 5000, comma-separated")
        }
        guard tokenRate > 0, (2...1000).contains(tokens), (1...8).contains(turns) else {
            throw ValidationError("--token-rate must be positive, --tokens 2…1000, --turns 1…8")
        }
        _ = try parseDuration(ttft, flag: "--ttft")
        _ = try parseDuration(pause, flag: "--pause")
    }

    var steps: [Int] { calls.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func run() async throws {
        let timeToFirstToken = try parseDuration(ttft, flag: "--ttft")
        let speaking = try parseDuration(pause, flag: "--pause")
        try await options.withScratchDatabase(poolSize: 4) { pool, description, database in
            let model = StreamingModel(
                port: try EmbeddedPostgres.freePort(), timeToFirstToken: timeToFirstToken,
                tokensPerSecond: tokenRate, tokens: tokens)
            var logger = Logger(label: "bench.relay")
            logger.logLevel = .critical
            let modelTask = ServiceTask(model, logger: logger)
            defer { modelTask.stop() }
            say("switchboard bench relay — \(description)")
            say(
                "model: first token after \(ttft), \(tokens) tokens at \(formatted(tokenRate))/s; each call: "
                    + "\(turns) answers (the last interrupted) after ~\(pause) of speech, then goodbye; "
                    + "\(options.runs) runs per step")
            var figures: [StepFigures] = []
            for calls in steps {
                var runs: [StepFigures] = []
                for run in 1...options.runs {
                    let step = RelayStep(
                        calls: calls, turns: turns, speaking: speaking, model: model, pool: pool, database: database)
                    let result = try await step.measure()
                    runs.append(result)
                    say("  \(calls) calls, run \(run): \(result.line)")
                }
                let median = StepFigures.median(runs)
                figures.append(median)
                say("\(calls) calls (median of \(options.runs)): \(median.line)")
            }
            let held = figures.filter { $0.overheadP99 <= Self.budget && $0.failures == 0 }.map(\.calls).max()
            say(
                "most concurrent calls with p99 overhead ≤ \(formatted(Self.budget)) ms: "
                    + (held.map(String.init) ?? "none of the steps"))
            say("method: one `switchboard webhook` process per step (fresh, pool of 10 connections), a durable")
            say("PostgreSQL, the model and the callers in this process, all on loopback on this machine's cores;")
            say("overhead = client-observed (prompt sent → first token received) − the model's (request received →")
            say("first token written); reference: the model server's own lateness behind its schedule, same run.")
            if options.json {
                let steps = figures.map(\.json).joined(separator: ", ")
                say("{\"steps\": [\(steps)], \"max_calls_p99_overhead_le_10ms\": \(held.map(String.init) ?? "null")}")
            }
        }
    }
}

/// One step's figures (milliseconds unless named otherwise).
struct StepFigures {
    var calls: Int
    var turns: Int
    var failures: Int
    var overheadP50: Double
    var overheadP99: Double
    var recordedP50: Double
    var recordedP99: Double
    var cancelP50: Double
    var cancelP99: Double
    var rssPerCallKB: Double
    var busyConnectionsMedian: Double
    var busyConnectionsMax: Double
    var streamsMax: Double
    var modelLatenessP99: Double
    /// Interrupted answers whose model stream the webhook ended (of `calls` interrupted).
    var abandoned: Int

    var line: String {
        "overhead p50 \(formatted(overheadP50, decimals: 2)) / p99 \(formatted(overheadP99, decimals: 2)) ms "
            + "(webhook's record \(formatted(recordedP50, decimals: 2)) / \(formatted(recordedP99, decimals: 2))), "
            + "cancel p50 \(formatted(cancelP50, decimals: 2)) / p99 \(formatted(cancelP99, decimals: 2)) ms, "
            + "\(formatted(rssPerCallKB, decimals: 1)) KB RSS per call, DB connections busy while streaming "
            + "median \(formatted(busyConnectionsMedian)) max \(formatted(busyConnectionsMax)) "
            + "(up to \(formatted(streamsMax)) streams open), model lateness p99 \(formatted(modelLatenessP99, decimals: 2)) ms, "
            + "\(turns) answers, \(abandoned) of \(calls) interrupted streams ended at the model, \(failures) failed"
    }

    var json: String {
        "{\"calls\": \(calls), \"answers\": \(turns), \"failures\": \(failures), "
            + "\"overhead_p50_ms\": \(formatted(overheadP50, decimals: 2)), \"overhead_p99_ms\": \(formatted(overheadP99, decimals: 2)), "
            + "\"recorded_p50_ms\": \(formatted(recordedP50, decimals: 2)), \"recorded_p99_ms\": \(formatted(recordedP99, decimals: 2)), "
            + "\"cancel_p50_ms\": \(formatted(cancelP50, decimals: 2)), \"cancel_p99_ms\": \(formatted(cancelP99, decimals: 2)), "
            + "\"rss_per_call_kb\": \(formatted(rssPerCallKB, decimals: 1)), "
            + "\"busy_connections_median\": \(formatted(busyConnectionsMedian)), \"busy_connections_max\": \(formatted(busyConnectionsMax)), "
            + "\"streams_max\": \(formatted(streamsMax)), \"model_lateness_p99_ms\": \(formatted(modelLatenessP99, decimals: 2)), "
            + "\"abandoned_streams\": \(abandoned)}"
    }

    /// Each figure's median over the runs.
    static func median(_ runs: [StepFigures]) -> StepFigures {
        func m(_ value: (StepFigures) -> Double) -> Double { Statistics.median(runs.map(value)) }
        return StepFigures(
            calls: runs[0].calls, turns: Int(m { Double($0.turns) }), failures: runs.map(\.failures).max() ?? 0,
            overheadP50: m(\.overheadP50), overheadP99: m(\.overheadP99), recordedP50: m(\.recordedP50),
            recordedP99: m(\.recordedP99), cancelP50: m(\.cancelP50), cancelP99: m(\.cancelP99),
            rssPerCallKB: m(\.rssPerCallKB), busyConnectionsMedian: m(\.busyConnectionsMedian),
            busyConnectionsMax: m(\.busyConnectionsMax), streamsMax: m(\.streamsMax),
            modelLatenessP99: m(\.modelLatenessP99), abandoned: Int(m { Double($0.abandoned) }))
    }
}

/// One step: a fresh webhook process, `calls` calls held at once, and what they measured.
struct RelayStep {
    let calls: Int
    let turns: Int
    let speaking: Duration
    let model: StreamingModel
    let pool: PostgresPool
    let database: PostgresConfiguration

    static let accountSID = "AC" + String(repeating: "be1a", count: 8)
    static let warmUpCalls = 10
    static let token = "bench-relay-auth-token-0000"

    func measure() async throws -> StepFigures {
        model.reset()
        let masterKey = CredentialVault.generateKeySpecification()
        let vault = try CredentialVault(keySpecification: masterKey)
        try await AccountStore(pool: pool, vault: vault).upsert(
            name: "bench", accountSID: Self.accountSID, secret: Self.token)
        let accountID = try await pool.query(
            "SELECT id FROM switchboard.accounts WHERE account_sid = \(Self.accountSID)")[0].decode(Int64.self, at: 0)
        let port = try EmbeddedPostgres.freePort()
        // This very binary (through sh, so /proc/self/exe must be resolved here).
        let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let webhook = try ChildProcess(
            binary, ["webhook", "--host", "127.0.0.1", "--port", "\(port)", "--log-level", "error"],
            environment: [
                "DATABASE_URL": database.conninfo, "SWITCHBOARD_MASTER_KEY": masterKey,
                "SWITCHBOARD_PUBLIC_URL": "http://127.0.0.1:\(port)", "OPENAI_BASE_URL": model.baseURL,
                "OPENAI_API_KEY": "sk-bench-not-a-real-key",
            ])
        defer { webhook.signal(SIGKILL) }
        try await Self.waitUntilReady(port: port, webhook)

        var request = VoiceAgentRequest(account: "bench", to: "+15550001234", from: "+15557654321", questions: .null)
        request.questions = nil
        request.agentType = "llm"
        request.model = "bench"
        request.systemPrompt = "You are a benchmark."
        request.transport = "relay"
        request.maxConversationTurns = turns + 1
        let spec = try request.resolve()
        let sessions = SessionStore(pool: pool)
        func open(_ count: Int) async throws -> [Int64] {
            var ids: [Int64] = []
            for _ in 0..<count {
                ids.append(try await sessions.open(jobID: WebhookBench.nextJob(), accountID: accountID, spec: spec))
            }
            return ids
        }
        func hold(_ ids: [Int64], samples: CallSamples) async {
            await withTaskGroup(of: Void.self) { group in
                for (index, id) in ids.enumerated() {
                    group.addTask {
                        await RelayCaller(
                            session: id, index: index, port: port, turns: turns, speaking: speaking, model: model,
                            samples: samples
                        ).run()
                    }
                }
            }
        }
        // A few calls first, so the memory baseline has every code path and pool warmed up.
        await hold(try await open(Self.warmUpCalls), samples: CallSamples())
        model.reset()
        let ids = try await open(calls)
        let baseline = Self.residentKB(webhook.pid)
        let samples = CallSamples()
        let sampling = Task { try await sample(webhook: webhook, samples: samples) }
        await hold(ids, samples: samples)
        sampling.cancel()
        _ = try? await sampling.value

        let recorded = try await pool.query(
            """
            SELECT first_token_ms - model_first_token_ms, cancel_ms FROM switchboard.voice_turns t
            WHERE session_id = ANY(\(ids)) AND (first_token_ms IS NOT NULL OR cancel_ms IS NOT NULL)
            """)
        let added = try recorded.compactMap { try $0.decode(Double?.self, at: 0) }
        let cancels = try recorded.compactMap { try $0.decode(Double?.self, at: 1) }
        let state = samples.snapshot
        return StepFigures(
            calls: calls, turns: state.overheads.count, failures: state.failures,
            overheadP50: Statistics.percentile(state.overheads, 0.5),
            overheadP99: Statistics.percentile(state.overheads, 0.99),
            recordedP50: Statistics.percentile(added, 0.5), recordedP99: Statistics.percentile(added, 0.99),
            cancelP50: Statistics.percentile(cancels, 0.5), cancelP99: Statistics.percentile(cancels, 0.99),
            rssPerCallKB: Double(max(0, state.peakRSS - baseline)) / Double(calls),
            busyConnectionsMedian: Statistics.median(state.busyWhileStreaming.map(Double.init)),
            busyConnectionsMax: Double(state.busyWhileStreaming.max() ?? 0), streamsMax: Double(state.streamsMax),
            modelLatenessP99: Statistics.percentile(state.modelLateness, 0.99), abandoned: model.abandonedStreams)
    }

    /// Every 20 ms: the webhook's resident memory, and while answers stream, how many of the
    /// webhook's database connections are busy (running a statement or inside a transaction).
    private func sample(webhook: ChildProcess, samples: CallSamples) async throws {
        let busy: PostgresQuery = """
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND state IN ('active', 'idle in transaction')
            """
        while !Task.isCancelled {
            samples.rss(Self.residentKB(webhook.pid))
            let open = model.openStreams
            if open > 0, let count = try? await pool.query(busy).first?.decode(Int.self, at: 0) {
                samples.busy(count, streams: open)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func waitUntilReady(port: Int, _ webhook: ChildProcess) async throws {
        for _ in 0..<200 {
            let probe = HTTPClientRequest(url: "http://127.0.0.1:\(port)/ready")
            if let response = try? await HTTPClient.shared.execute(probe, timeout: .seconds(1)), response.status == .ok
            {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ValidationError("the webhook did not start: \(webhook.output.suffix(2000))")
    }

    /// VmRSS of `pid` in KB (0 if unreadable).
    static func residentKB(_ pid: pid_t) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }
}

/// What the callers and the sampler measured.
final class CallSamples: Sendable {
    struct State {
        var overheads: [Double] = []
        var modelLateness: [Double] = []
        var failures = 0
        var peakRSS = 0
        var busyWhileStreaming: [Int] = []
        var streamsMax = 0
    }
    private let state = Mutex(State())
    var snapshot: State { state.withLock { $0 } }

    func overhead(_ value: Double, modelLateness: Double) {
        state.withLock {
            $0.overheads.append(value)
            $0.modelLateness.append(modelLateness)
        }
    }
    func failed() { state.withLock { $0.failures += 1 } }
    func rss(_ kb: Int) { state.withLock { $0.peakRSS = max($0.peakRSS, kb) } }
    func busy(_ count: Int, streams: Int) {
        state.withLock {
            $0.busyWhileStreaming.append(count)
            $0.streamsMax = max($0.streamsMax, streams)
        }
    }
}

/// Twilio's side of one relay call, as the simulator plays it but timed.
struct RelayCaller {
    let session: Int64
    let index: Int
    let port: Int
    let turns: Int
    let speaking: Duration
    let model: StreamingModel
    let samples: CallSamples

    func run() async {
        let url = "ws://127.0.0.1:\(port)" + WebhookPaths.relay(session) + "?AccountSid=\(RelayStep.accountSID)"
        var configuration = WebSocketClientConfiguration(maxFrameSize: ConversationRelay.maxMessageBytes)
        configuration.additionalHeaders[.init("X-Twilio-Signature")!] = TwilioSignature.compute(
            url: url, parameters: FormParameters(), authToken: RelayStep.token)
        var logger = Logger(label: "bench.caller")
        logger.logLevel = .critical
        do {
            try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) {
                inbound, outbound, _ in
                var frames = inbound.messages(maxSize: ConversationRelay.maxMessageBytes).makeAsyncIterator()
                // Decoded into the three fields it reads: the callers share the cores with the webhook.
                let decoder = JSONDecoder()
                func next() async throws -> Frame {
                    while let message = try await frames.next() {
                        guard case .text(let text) = message else { continue }
                        return try decoder.decode(Frame.self, from: Data(text.utf8))
                    }
                    throw ValidationError("the socket closed")
                }
                let callSID = "CA" + String(format: "%032x", session)
                try await outbound.write(
                    .text(
                        #"{"type":"setup","sessionId":"VX\#(index)","callSid":"\#(callSID)","from":"+15557654321","to":"+15550001234","direction":"outbound-api","customParameters":{}}"#
                    ))
                while try await next().last != true {}
                for turn in 1...turns {
                    let pause = speaking * Double.random(in: 0.5...1.5)
                    try await Task.sleep(for: pause)
                    let key = "c\(index)t\(turn)"
                    let sent = ContinuousClock.now
                    try await outbound.write(.text(ConversationRelay.finalPrompt(key)))
                    // Tokens of an interrupted answer may still arrive: skip those not for `key`.
                    var frame = try await next()
                    while frame.token?.hasPrefix(" \(key)·") != true { frame = try await next() }
                    let firstAt = ContinuousClock.now
                    if let timing = model.timing(key), let first = timing.firstToken {
                        let modelShare = (first - timing.received).milliseconds
                        samples.overhead(
                            (firstAt - sent).milliseconds - modelShare,
                            modelLateness: modelShare - model.timeToFirstToken.milliseconds)
                    }
                    if turn == turns {
                        _ = try await next()
                        try await outbound.write(
                            .text(
                                #"{"type":"interrupt","utteranceUntilInterrupt":"\#(StreamingModel.token(key, 0))","durationUntilInterruptMs":"400"}"#
                            ))
                    } else {
                        while try await next().last != true {}
                    }
                }
                try await Task.sleep(for: speaking)
                try await outbound.write(.text(ConversationRelay.finalPrompt("Goodbye")))
                while try await next().type != "end" {}
            }
        } catch {
            samples.failed()
        }
    }

    /// A message of the webhook's, as far as a caller reads it.
    struct Frame: Decodable {
        var type: String
        var token: String?
        var last: Bool?
    }
}
