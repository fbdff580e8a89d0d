import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore
import TestSupport
import Testing

/// How a turn is stored (review §2.3): nothing is held while it is planned (an LLM turn plans for
/// seconds), and of two requests planning the same turn at once only one is stored.
@Suite struct TurnStorageTests {
    func openSurvey(_ hooks: WebhookHarness) async throws -> Int64 {
        let questions = try JSONDecoder().decode(JSONValue.self, from: Data(ExampleFlows.survey.utf8))
        let spec = try VoiceAgentRequest(
            account: "main", to: "+15550001234", from: "+15557654321", questions: questions
        )
        .resolve()
        let job = try await hooks.db.store.enqueue(NewJob(kind: "noop")).id
        return try await SessionStore(pool: hooks.db.pool).open(jobID: job, accountID: hooks.accountID, spec: spec)
    }

    /// The first turn of the survey, as the webhook plans it.
    @Sendable static func firstTurn(_ session: VoiceSession) -> TurnPlan {
        InterviewTurn.plan(
            spec: session.spec, state: session.state, produced: session.turn, requestTurn: nil, input: CallerInput(),
            startedAt: Date(), now: Date(), action: { "https://example.test/turns/\($0)" })
    }

    @Test func noConnectionIsHeldWhileATurnIsPlanned() async throws {
        try await WebhookHarness.with { (hooks: WebhookHarness) async throws in
            let session = try await openSurvey(hooks)
            // One connection: a turn that held it while planning would leave the plan's own query
            // (standing in for every other request the webhook serves meanwhile) waiting for it.
            let narrow = PostgresPool(
                configuration: hooks.db.configuration, options: .init(maxConnections: 1, acquireTimeout: .seconds(3)))
            let answer: TurnAnswer
            do {
                answer = try await SessionStore(pool: narrow).takeTurn(
                    sessionID: session, accountID: hooks.accountID, callSID: sid("CA", 80)
                ) { session in
                    _ = try await narrow.query("SELECT pg_sleep(0.05)")
                    return Self.firstTurn(session)
                }
            } catch {
                await narrow.close()
                throw error
            }
            await narrow.close()
            guard case .twiml(let xml) = answer else {
                Issue.record("expected TwiML, got \(answer)")
                return
            }
            #expect(xml.contains("On a scale of 1 to 10"))
        }
    }

    @Test func twoRequestsPlanningTheSameTurnAtOnceStoreItOnce() async throws {
        try await WebhookHarness.with { (hooks: WebhookHarness) async throws in
            let session = try await openSurvey(hooks)
            let store = SessionStore(pool: hooks.db.pool)
            let call = sid("CA", 81)
            // Both plans read the session before either stores (a model answering both).
            let arrived = Locked(0)
            let plans = Locked(0)
            @Sendable func take() async throws -> TurnAnswer {
                try await store.takeTurn(sessionID: session, accountID: hooks.accountID, callSID: call) { session in
                    plans.withLock { $0 += 1 }
                    if session.turn == 0 {
                        arrived.withLock { $0 += 1 }
                        _ = await eventually(timeout: .seconds(10)) { arrived.value >= 2 }
                    }
                    // What the webhook plans for a repeated first request: the stored turn.
                    return session.turn == 0 ? Self.firstTurn(session) : .replay(turn: 1)
                }
            }
            async let first = take()
            async let second = take()
            let answers = try await [first, second]
            #expect(answers[0] == answers[1], "the loser answers with what the winner stored")
            #expect(plans.value == 3, "the loser planned again from the stored session")
            let turns = try await hooks.db.integer(
                "SELECT count(*) FROM switchboard.voice_turns WHERE session_id = \(session)")
            #expect(turns == 1)
            #expect(try await store.session(id: session)?.turn == 1)
        }
    }
}
