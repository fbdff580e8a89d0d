import ArgumentParser
import AsyncHTTPClient
import EmbeddedPostgres
import Foundation
import Logging
import NIOCore
import Postgres
import ServiceTask
import SwitchboardCore
import SwitchboardProcesses
import SwitchboardStore
import SwitchboardWebhook
import Synchronization
import Twilio

struct WebhookBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook",
        abstract: "Voice-agent turns per second and turn latency through `switchboard webhook` (JSON agent).")

    @OptionGroup var options: BenchOptions
    @Option(help: "Turns per second offered by the load generator (open loop).") var rate = 300.0
    @Option(help: "Seconds of load per run.") var seconds = 10.0

    func validate() throws {
        guard rate > 0, seconds > 0 else { throw ValidationError("--rate and --seconds must be positive") }
    }

    func run() async throws {
        try await options.withScratchDatabase(poolSize: 20) { pool, description in
            try await measure(pool: pool, server: description)
        }
    }

    static let accountSID = "AC" + String(repeating: "be0c", count: 8)
    static let token = "bench-webhook-auth-token-000"

    private func measure(pool: PostgresPool, server: String) async throws {
        let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
        let accounts = AccountStore(pool: pool, vault: vault)
        let accountID = try await accounts.upsert(name: "bench", accountSID: Self.accountSID, secret: Self.token)
        let webhook = try await BenchWebhook.start(pool: pool, accounts: accounts, label: "bench.webhook")
        defer { webhook.stop() }
        let publicURL = webhook.base

        // Every call: the answer, then three answers (number, yes/no, text): four turns.
        let spec = try VoiceAgentRequest(
            account: "bench", to: "+15550001234", from: "+15557654321", questions: Self.survey
        ).resolve()
        let turnsPerCall = 4
        let calls = Int((rate * seconds / Double(turnsPerCall)).rounded(.up)) + 1
        let sessions = SessionStore(pool: pool)
        say("switchboard bench webhook — \(server)")
        say("\(formatted(rate)) turns/s offered for \(formatted(seconds)) s per run, \(options.runs) runs")
        var p50s: [Double] = []
        var p99s: [Double] = []
        var achieved: [Double] = []
        for run in 1...options.runs {
            var ids: [Int64] = []
            for _ in 0..<calls {
                ids.append(try await sessions.open(jobID: Self.nextJob(), accountID: accountID, spec: spec))
            }
            let result = try await load(sessions: ids, publicURL: publicURL)
            p50s.append(Statistics.percentile(result.latencies, 0.5))
            p99s.append(Statistics.percentile(result.latencies, 0.99))
            achieved.append(Double(result.latencies.count) / result.elapsed)
            say(
                "run \(run): \(result.latencies.count) turns in \(formatted(result.elapsed, decimals: 2)) s "
                    + "(\(formatted(achieved.last!, decimals: 1))/s), p50 \(formatted(p50s.last!, decimals: 2)) ms, "
                    + "p99 \(formatted(p99s.last!, decimals: 2)) ms, \(result.failures) failed")
        }
        let p50 = Statistics.median(p50s)
        let p99 = Statistics.median(p99s)
        let perSecond = Statistics.median(achieved)
        say(
            "median of \(options.runs): \(formatted(perSecond, decimals: 1)) turns/s, p50 \(formatted(p50, decimals: 2)) ms, p99 \(formatted(p99, decimals: 2)) ms"
        )
        say(
            "method: one webhook server in this process on loopback, a durable PostgreSQL; the load generator (also in this"
        )
        say(
            "process) starts each turn on an open-loop schedule, signs it with X-Twilio-Signature and posts it over HTTP;"
        )
        say("each turn verifies the signature, locks the session row, advances the interview and stores the TwiML.")
        if options.json {
            say(
                "{\"turns_per_s\": \(formatted(perSecond, decimals: 1)), \"latency_p50_ms\": \(formatted(p50, decimals: 2)), "
                    + "\"latency_p99_ms\": \(formatted(p99, decimals: 2)), \"offered_per_s\": \(formatted(rate)), \"runs\": \(options.runs)}"
            )
        }
    }

    struct LoadResult {
        var latencies: [Double]
        var failures: Int
        var elapsed: Double
    }

    /// Offers turns at `rate`: call k starts at k × 4 / rate and takes its next turn as soon as
    /// the previous one is answered, no sooner than its slot (open loop: a slow server does not
    /// slow the offered load down).
    private func load(sessions: [Int64], publicURL: String) async throws -> LoadResult {
        let samples = TurnSamples()
        let start = ContinuousClock.now
        let interval = Duration.seconds(1 / rate)
        let answers: [FormParameters] = [
            [:], ["SpeechResult": "nine", "Confidence": "0.9"], ["Digits": "1"],
            ["SpeechResult": "Keep it up", "Confidence": "0.9"],
        ]
        let totalTurns = Int(rate * seconds)
        await withTaskGroup(of: Void.self) { group in
            for (index, session) in sessions.enumerated() {
                let first = index * answers.count
                guard first < totalTurns else { break }
                try? await Task.sleep(until: start + interval * first)
                group.addTask {
                    let call = "CA" + String(format: "%032x", session)
                    for (turn, extra) in answers.enumerated() where first + turn < totalTurns {
                        try? await Task.sleep(until: start + interval * (first + turn))
                        var form: FormParameters = ["CallSid": call, "AccountSid": Self.accountSID]
                        for pair in extra.pairs { form.append(pair.name, pair.value) }
                        let path = turn == 0 ? WebhookPaths.session(session) : WebhookPaths.sessionTurn(session, turn)
                        let began = ContinuousClock.now
                        let ok = (try? await Self.post(publicURL + path, form)) == 200
                        let took = (ContinuousClock.now - began).seconds * 1000
                        samples.record(ok ? took : nil)
                        if !ok { break }
                    }
                }
            }
        }
        return LoadResult(
            latencies: samples.latencies, failures: samples.failures, elapsed: (ContinuousClock.now - start).seconds)
    }

    static func post(_ url: String, _ form: FormParameters) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(
            name: "X-Twilio-Signature", value: TwilioSignature.compute(url: url, parameters: form, authToken: token))
        request.body = .bytes(ByteBuffer(string: form.encoded))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(15))
        _ = try await response.body.collect(upTo: 1 << 16)
        return Int(response.status.code)
    }

    static let jobCounter = Atomic<Int64>(0)
    /// Sessions need no real job; distinct ids keep them apart.
    static func nextJob() -> Int64 { jobCounter.add(1, ordering: .relaxed).newValue + 1_000_000 }

    static let survey: JSONValue = .array([
        .object([
            "id": .string("satisfaction_rating"), "question": .string("On a scale of 1 to 10, how would you rate us?"),
            "expectedAnswerType": .string("number"),
            "conditionalActions": .array([
                .object([
                    "condition": .object([
                        "field": .string("satisfaction_rating"), "operator": .string("contains"), "value": .string("9"),
                    ]),
                    "action": .string("continue_flow"), "nextQuestionId": .string("testimonial_request"),
                ])
            ]),
        ]),
        .object([
            "id": .string("testimonial_request"), "question": .string("Would you give us a testimonial?"),
            "expectedAnswerType": .string("yes_no"),
        ]),
        .object([
            "id": .string("improvement_feedback"), "question": .string("What could we do better?"),
            "expectedAnswerType": .string("text"),
        ]),
    ])
}

/// Turn latencies (ms) and failures, from many concurrent calls.
final class TurnSamples: Sendable {
    private let storage = Mutex<(latencies: [Double], failures: Int)>(([], 0))

    /// nil: the turn failed.
    func record(_ latency: Double?) {
        storage.withLock { state in
            if let latency { state.latencies.append(latency) } else { state.failures += 1 }
        }
    }

    var latencies: [Double] { storage.withLock { $0.latencies } }
    var failures: Int { storage.withLock { $0.failures } }
}
