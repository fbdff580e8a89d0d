import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import SwitchboardWebhook
import SwitchboardWorker
import TestSupport
import Testing
import Twilio
import TwilioSimulator

/// The three example interviews over real HTTP: a worker places the calls through the simulator,
/// whose scripted callers answer each `<Gather>`; the turns go through a round-robin proxy to two
/// webhook servers, so consecutive requests of one call land on different hosts.
@Suite struct VoiceAgentTests {
    typealias Caller = [SimulatorConfiguration.CallerAnswer]

    struct Expectation {
        var flow: String
        var to: String
        var caller: Caller
        var answers: [String: String]
        var outcome: String
        /// Question ids asked, in order.
        var asked: [String]
    }

    static let cases: [Expectation] = [
        Expectation(
            flow: ExampleFlows.triage, to: "+15550009001",
            caller: [.speech("It's a technical issue"), .speech("My router keeps rebooting")],
            answers: ["issue_type": "technical", "technical_details": "My router keeps rebooting"],
            outcome: "completed", asked: ["issue_type", "technical_details"]),
        Expectation(
            flow: ExampleFlows.triage, to: "+15550009002",
            caller: [
                .silence, .speech("um, pizza?"), .speech("billing"), .speech("I was charged twice"), .speech("none"),
            ],
            answers: ["issue_type": "billing", "billing_details": "I was charged twice", "technical_details": "none"],
            outcome: "completed", asked: ["issue_type", "billing_details", "technical_details"]),
        Expectation(
            flow: ExampleFlows.triage, to: "+15550009003", caller: [.silence, .silence, .silence],
            answers: [:], outcome: "unanswered", asked: ["issue_type"]),
        Expectation(
            flow: ExampleFlows.screening, to: "+15550009011", caller: [.speech("Ana Lima"), .speech("None.")],
            answers: ["name": "Ana Lima", "experience": "0"], outcome: "end_call", asked: ["name", "experience"]),
        Expectation(
            flow: ExampleFlows.screening, to: "+15550009012",
            caller: [
                .speech("Bo Chen"), .speech("senior level"), .speech("I led a team of six"), .speech("next month"),
            ],
            answers: [
                "name": "Bo Chen", "experience": "senior level", "leadership_experience": "I led a team of six",
                "availability": "next month",
            ],
            outcome: "completed", asked: ["name", "experience", "leadership_experience", "availability"]),
        Expectation(
            flow: ExampleFlows.survey, to: "+15550009021",
            caller: [.speech("nine"), .digits("1"), .speech("Keep it up")],
            answers: ["satisfaction_rating": "9", "testimonial_request": "yes", "improvement_feedback": "Keep it up"],
            outcome: "completed", asked: ["satisfaction_rating", "testimonial_request", "improvement_feedback"]),
        Expectation(
            flow: ExampleFlows.survey, to: "+15550009022",
            caller: [.digits("*"), .speech("three"), .speech("Faster support")],
            answers: ["satisfaction_rating": "3", "improvement_feedback": "Faster support"],
            outcome: "completed", asked: ["satisfaction_rating", "improvement_feedback"]),
    ]

    /// Over `<Gather>`, the turns of one call alternate between the hosts. Over ConversationRelay,
    /// the worker places each call with `<Connect><ConversationRelay>`, the simulator opens the
    /// signed socket through the balancer (to either host) and its scripted callers answer with
    /// prompts and keys, the webhook ends the interview with `end`, and the `<Connect action>`
    /// (any host) hangs up.
    @Test(arguments: [VoiceTransport.gather, .relay])
    func theExampleInterviewsRunAcrossTwoWebhookHosts(transport: VoiceTransport) async throws {
        try await TestDatabase.with { db in
            let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
            let accounts = AccountStore(pool: db.pool, vault: vault)
            try await accounts.upsert(name: "main", accountSID: accountSID, secret: authToken)
            try await TwoWebhookHosts.with(db, accounts: accounts) { publicURL, proxy in
                let simulator = Self.simulator()
                let simulatorTask = try await simulator.start()
                defer { simulatorTask.stop() }
                try await accounts.setCallsPerSecond(accountID: 1, 50)
                let (_, handlers) = sendingThrough(
                    simulator, accounts: accounts, pool: db.pool, webhookBaseURL: publicURL)
                let jobs = try await withWorker(db, handlers: handlers) { _ in
                    var jobs: [Int64] = []
                    for expectation in Self.cases {
                        let questions = try JSONDecoder().decode(JSONValue.self, from: Data(expectation.flow.utf8))
                        var request = VoiceAgentRequest(
                            account: "main", to: expectation.to, from: "+15557654321", questions: questions)
                        request.transport = transport.rawValue
                        jobs.append(try await SendJobs.enqueue(request, store: db.store).id)
                    }
                    let ended = await eventually(timeout: .seconds(20)) {
                        try await db.integer("SELECT count(*) FROM switchboard.voice_sessions WHERE status = 'ended'")
                            == Self.cases.count
                    }
                    if !ended {
                        let rows = try await db.pool.query(
                            "SELECT id, status, turn, call_sid, outcome FROM switchboard.voice_sessions ORDER BY id")
                        for row in rows {
                            print(
                                "session", try row.decode(Int64.self, at: 0), try row.decode(String.self, at: 1),
                                try row.decode(Int.self, at: 2), try row.decode(String?.self, at: 3) ?? "-")
                        }
                        for call in await simulator.calls() {
                            print(
                                "call", call.resource.to, call.resource.status, call.url ?? "-",
                                call.transcript.prefix(6))
                        }
                        let jobs = try await db.pool.query(
                            "SELECT id, kind, state::text, errors::text FROM switchboard.all_jobs")
                        for row in jobs {
                            print(
                                "job", try row.decode(String.self, at: 1), try row.decode(String.self, at: 2),
                                try row.decode(String.self, at: 3).prefix(300))
                        }
                    }
                    #expect(ended, "every interview ended")
                    return jobs
                }
                try await Self.expectResults(jobs, db: db, simulator: simulator)
                let served = proxy.servedPerBackend
                #expect(served.allSatisfy { $0 >= 5 }, "both hosts served requests: \(served)")
                guard transport == .relay else { return }
                for call in await simulator.calls() {
                    #expect(
                        call.twiml?.contains("<ConversationRelay url=\"ws://127.0.0.1:") == true, "\(call.twiml ?? "")")
                    #expect(
                        call.transcript.contains {
                            if case .fetched(let url) = $0 { url.hasSuffix("/ended") } else { false }
                        },
                        "Twilio asked the <Connect action> when the session ended")
                    #expect(
                        !call.transcript.contains { if case .error = $0 { true } else { false } }, "\(call.transcript)")
                }
            }
        }
    }

    /// A simulator whose callers answer as the cases say.
    static func simulator() -> TwilioSimulator {
        var simulated = SimulatorConfiguration()
        simulated.accounts = [accountSID: authToken]
        simulated.callbackStep = .milliseconds(20)
        for expectation in cases { simulated.callers[expectation.to] = expectation.caller }
        return TwilioSimulator(configuration: simulated)
    }

    /// The interviews' results as the cases expect them, whatever the transport.
    static func expectResults(_ jobs: [Int64], db: TestDatabase, simulator: TwilioSimulator) async throws {
        for (expectation, jobID) in zip(Self.cases, jobs) {
            let result = try await db.store.job(id: jobID)?.result?.decode([String: JSONValue].self) ?? [:]
            let label = expectation.to
            #expect(
                result["agentOutcome"] == .string(expectation.outcome),
                "\(label): \(result["agentOutcome"] ?? .null)")
            #expect(result["answers"] == .object(expectation.answers.mapValues { .string($0) }), "\(label)")
            for (id, value) in expectation.answers {
                #expect(result[id] == .string(value), "\(label): answers are also workflow variables")
            }
            guard case .array(let transcript)? = result["transcript"] else {
                Issue.record("\(label): no transcript")
                continue
            }
            let asked = transcript.compactMap { line -> String? in
                guard line["speaker"] == .string("agent"), case .string(let id)? = line["questionId"] else {
                    return nil
                }
                return id
            }
            var distinct: [String] = []
            for id in asked where distinct.last != id { distinct.append(id) }
            #expect(distinct == expectation.asked, "\(label): \(asked)")
        }
        // What the callers heard: the custom end_call message, and a re-prompt after silence.
        let calls = await simulator.calls()
        let heard = Dictionary(grouping: calls, by: \.resource.to).mapValues { $0.flatMap(\.transcript) }
        #expect(
            heard["+15550009011"]?.contains(
                .said("Thank you for your interest. We'll review entry-level positions and contact you soon."))
                == true)
        #expect(
            heard["+15550009002"]?.contains {
                if case .said(let text) = $0 { text.hasPrefix("Sorry, I didn't catch that.") } else { false }
            } == true)
    }
}
