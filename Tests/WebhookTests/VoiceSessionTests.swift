import Foundation
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import TestSupport
import Testing
import Twilio

/// Turns are idempotent: Twilio retries a webhook that timed out, and the retry must get the same
/// TwiML without advancing the interview twice. A hang-up ends the session with what it has.
@Suite struct VoiceSessionTests {
    func survey(_ hooks: WebhookHarness) async throws -> (job: Int64, session: Int64) {
        let questions = try JSONDecoder().decode(JSONValue.self, from: Data(ExampleFlows.survey.utf8))
        let spec = try VoiceAgentRequest(
            account: "main", to: "+15550001234", from: "+15557654321", questions: questions
        )
        .resolve()
        let job = try await hooks.db.store.enqueue(NewJob(kind: "noop")).id
        let session = try await SessionStore(pool: hooks.db.pool).open(
            jobID: job, accountID: hooks.accountID, spec: spec)
        return (job, session)
    }

    func turn(_ call: String, speech: String? = nil, digits: String? = nil) -> FormParameters {
        var form: FormParameters = ["CallSid": call, "AccountSid": accountSID, "CallStatus": "in-progress"]
        form.append("SpeechResult", speech)
        form.append("Confidence", speech == nil ? nil : "0.9")
        form.append("Digits", digits)
        return form
    }

    @Test func repeatedRequestsGetTheSameAnswerAndAdvanceOnce() async throws {
        try await WebhookHarness.with { (hooks: WebhookHarness) async throws in
            let (job, session) = try await survey(hooks)
            let call = sid("CA", 70)
            let path = "/twilio/voice/sessions/\(session)"
            let first = try await hooks.post(path, turn(call))
            #expect(first.status == 200)
            #expect(first.body.contains("On a scale of 1 to 10"))
            #expect(first.body.contains("action=\"\(hooks.publicURL)\(path)/turns/1\""))
            #expect(try await hooks.post(path, turn(call)).body == first.body, "the answered request, again")
            let answer = try await hooks.post(path + "/turns/1", turn(call, speech: "nine"))
            #expect(answer.body.contains("testimonial"))
            #expect(try await hooks.post(path + "/turns/1", turn(call, speech: "nine")).body == answer.body)
            let stored = try await SessionStore(pool: hooks.db.pool).session(id: session)
            #expect(stored?.turn == 2)
            guard case .interview(let interview)? = stored?.state else {
                Issue.record("no interview state")
                return
            }
            #expect(interview.transcript.filter { $0.speaker == .caller }.count == 1, "answered once")
            // A turn not asked yet, another call, an unknown session.
            #expect(try await hooks.post(path + "/turns/7", turn(call, speech: "yes")).status == 409)
            #expect(try await hooks.post(path + "/turns/2", turn(sid("CA", 71), speech: "yes")).status == 409)
            #expect(try await hooks.post("/twilio/voice/sessions/999999", turn(call)).status == 404)
            // The caller hangs up: the session ends with the answer it has.
            try await DeliveryStore(pool: hooks.db.pool).recordCall(
                sid: call, jobID: job, accountID: hooks.accountID, to: "+15550001234", from: "+15557654321",
                status: "in-progress", origin: "created")
            let ended: FormParameters = [
                "CallSid": call, "CallStatus": "completed", "CallDuration": "31", "AccountSid": accountSID,
            ]
            #expect(try await hooks.post("/twilio/calls/status", ended).status == 204)
            let result = try await hooks.db.store.job(id: job)?.result?.decode([String: JSONValue].self)
            #expect(result?["agentOutcome"] == .string("hangup"))
            #expect(result?["satisfaction_rating"] == .string("9"))
            #expect(try await SessionStore(pool: hooks.db.pool).session(id: session)?.status == .ended)
            // After the end, a late retry of the last turn still gets what it got.
            #expect(try await hooks.post(path + "/turns/1", turn(call, speech: "nine")).body == answer.body)
        }
    }

    @Test func sessionsNoCallbackClosedEndAfterTheirTimeLimit() async throws {
        try await WebhookHarness.with { (hooks: WebhookHarness) async throws in
            let (job, session) = try await survey(hooks)
            let (_, fresh) = try await survey(hooks)
            let store = SessionStore(pool: hooks.db.pool)
            #expect(try await store.expire() == 0, "nothing is over yet")
            // The call was never answered and its status callback was lost, an hour ago.
            try await hooks.db.pool.query(
                "UPDATE switchboard.voice_sessions SET created_at = now() - interval '1 hour' WHERE id = \(session)")
            #expect(try await store.expire(grace: .seconds(60)) == 1)
            #expect(try await store.session(id: session)?.status == .ended)
            #expect(try await store.session(id: fresh)?.status == .pending)
            let result = try await hooks.db.store.job(id: job)?.result?.decode([String: JSONValue].self)
            #expect(result?["agentOutcome"] == .string("timeout"))
            #expect(try await store.expire(grace: .seconds(60)) == 0)
        }
    }

    @Test func theWebhookProcessSweepsSessionsPastTheirTimeLimit() async throws {
        try await WebhookHarness.with(.live, sessionSweepInterval: .milliseconds(100)) {
            (hooks: WebhookHarness) async throws in
            let (job, session) = try await survey(hooks)
            // Lost status callback: the call should have ended long ago (limit plus five minutes' grace).
            try await hooks.db.pool.query(
                "UPDATE switchboard.voice_sessions SET created_at = now() - interval '1 day' WHERE id = \(session)")
            let store = SessionStore(pool: hooks.db.pool)
            #expect(await eventually(timeout: .seconds(10)) { try await store.session(id: session)?.status == .ended })
            let result = try await hooks.db.store.job(id: job)?.result?.decode([String: JSONValue].self)
            #expect(result?["agentOutcome"] == .string("timeout"))
        }
    }

    @Test(arguments: [
        (#"{"account": "main", "to": "+15550001234", "from": "+15557654321", "agentType": "llm"}"#, "model"),
        (
            #"{"account": "main", "to": "+15550001234", "from": "+15557654321", "agentType": "llm", "model": "gpt-4o-mini", "systemPrompt": "Be brief.", "temperature": 2.5}"#,
            "temperature"
        ),
        (
            #"{"account": "main", "to": "+15550001234", "from": "+15557654321", "agentType": "llm", "model": "gpt-4o-mini"}"#,
            "systemPrompt"
        ),
        (#"{"account": "main", "to": "+15550001234", "from": "+15557654321", "agentType": "chatbot"}"#, "agentType"),
        (#"{"account": "main", "to": "+15550001234", "from": "+15557654321", "agentType": "questions"}"#, "questions"),
        (
            #"{"account": "main", "to": "+15550001234", "from": "+15557654321", "agentType": "questions", "questions": [{"id": "a", "question": "Hi {{name}}?", "expectedAnswerType": "text"}]}"#,
            "questions[0] 'a'.question"
        ),
        (
            #"{"account": "main", "to": "+15550001234", "from": "+15557654321", "agentType": "questions", "questions": [{"id": "a", "question": "Q?", "expectedAnswerType": "number", "conditionalActions": [{"condition": {"field": "a", "operator": "startsWith", "value": "1"}, "action": "end_call"}]}]}"#,
            "questions[0] 'a'.conditionalActions[0].condition.operator"
        ),
        (
            #"{"account": "main", "to": "+15550001234", "from": "+15557654321", "agentType": "questions", "questions": [{"id": "a", "question": "Q?", "expectedAnswerType": "text"}], "timeLimit": 5}"#,
            "timeLimit"
        ),
        (#"{"account": "main", "to": "555", "from": "+15557654321", "agentType": "questions", "questions": []}"#, "to"),
        (
            #"{"account": "main", "to": "+15550001234", "from": "+15557654321", "agentType": "questions", "questions": [], "mood": "cheerful"}"#,
            "mood"
        ),
    ])
    func badAgentJobsAreRefusedAtEnqueue(payload: String, field: String) throws {
        let error = #expect(throws: InputError.self) {
            try SendJobs.validatedPayload(kind: SendJobs.voiceAgentKind, payload: payload)
        }
        #expect(error?.field == field, "\(String(describing: error))")
    }
}
