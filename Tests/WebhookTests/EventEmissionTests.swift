import Foundation
import Postgres
import SwitchboardCore
import SwitchboardEvents
import SwitchboardStore
import TestSupport
import Testing
import Twilio

/// Issue 13: every cause writes its event in its own transaction — status callbacks, replies,
/// opt-outs and opt-ins, a session's end — with what the job's result carries, and nothing is
/// written for nobody.
@Suite struct EventEmissionTests {
    struct Event {
        var type: String
        var subject: String
        var accountID: Int64?
        var data: [String: JSONValue]
    }

    func events(_ db: TestDatabase) async throws -> [Event] {
        try await db.pool.query("SELECT type, subject, account_id, data::text FROM switchboard.events ORDER BY id").map
        {
            Event(
                type: try $0.decode(String.self, at: 0), subject: try $0.decode(String.self, at: 1),
                accountID: try $0.decode(Int64?.self, at: 2),
                data: try JSONDecoder().decode(
                    [String: JSONValue].self, from: Data(try $0.decode(String.self, at: 3).utf8)))
        }
    }

    func subscribe(_ hooks: WebhookHarness, events: [String] = ["*"], account: String? = "main") async throws -> Int64 {
        try await EventStore(pool: hooks.db.pool, vault: hooks.vault).subscribe(
            url: "http://127.0.0.1:9/hook", eventTypes: events, account: account, secret: WebhookSecret().text)
    }

    func status(_ message: String, _ status: String, errorCode: Int? = nil) -> FormParameters {
        var form: FormParameters = [
            "MessageSid": message, "MessageStatus": status, "AccountSid": accountSID, "To": "+15550002222",
            "From": "+14155550100",
        ]
        form.append("ErrorCode", errorCode.map(String.init))
        return form
    }

    func inbound(_ message: String, from: String, body: String) -> FormParameters {
        [
            "MessageSid": message, "AccountSid": accountSID, "From": from, "To": "+14155550100", "Body": body,
            "NumMedia": "0",
        ]
    }

    @Test func everyCauseWritesItsEventWithWhatTheResultCarries() async throws {
        try await WebhookHarness.with { hooks in
            let subscription = try await subscribe(hooks)
            let jobID = try await hooks.db.store.enqueue(NewJob(kind: "noop")).id
            let delivered = sid("SM", 1)
            let failed = sid("SM", 2)
            try await hooks.recordMessage(sid: delivered, jobID: jobID, to: "+15550002222")
            try await hooks.recordMessage(sid: failed, jobID: nil, to: "+15550003333")
            let statusPath = "/twilio/messages/status"
            #expect(try await hooks.post(statusPath, status(delivered, "sent")).status == 204)
            #expect(try await hooks.post(statusPath, status(delivered, "delivered")).status == 204)
            #expect(try await hooks.post(statusPath, status(delivered, "sent")).status == 204, "stale: no event")
            #expect(try await hooks.post(statusPath, status(failed, "undelivered", errorCode: 30003)).status == 204)
            // A reply to the delivered message, then STOP and START from someone else.
            let inboundPath = "/twilio/messages/inbound"
            #expect(
                try await hooks.post(inboundPath, inbound(sid("SM", 3), from: "+15550002222", body: "Sounds good"))
                    .status == 200)
            #expect(
                try await hooks.post(inboundPath, inbound(sid("SM", 4), from: "+15550009999", body: "STOP")).status
                    == 200)
            #expect(
                try await hooks.post(inboundPath, inbound(sid("SM", 4), from: "+15550009999", body: "STOP")).status
                    == 200, "Twilio's retry")
            #expect(
                try await hooks.post(inboundPath, inbound(sid("SM", 5), from: "+15550009999", body: "START")).status
                    == 200)
            // A call ends.
            let call = sid("CA", 6)
            try await DeliveryStore(pool: hooks.db.pool).recordCall(
                sid: call, jobID: nil, accountID: hooks.accountID, to: "+15550004444", from: "+14155550100",
                status: "in-progress", origin: "created")
            let ended: FormParameters = [
                "CallSid": call, "CallStatus": "completed", "CallDuration": "42", "AccountSid": accountSID,
            ]
            #expect(try await hooks.post("/twilio/calls/status", ended).status == 204)

            let written = try await events(hooks.db)
            #expect(
                written.map(\.type) == [
                    "message.sent", "message.delivered", "message.failed", "reply.received", "optout.changed",
                    "optout.changed",
                ] + ["call.completed"],
                "\(written.map(\.type))")
            #expect(written.allSatisfy { $0.accountID == hooks.accountID })
            let deliveredEvent = try #require(written.first { $0.type == "message.delivered" })
            #expect(deliveredEvent.subject == "message:\(delivered)")
            #expect(deliveredEvent.data["jobId"] == .int(jobID))
            #expect(deliveredEvent.data["status"] == .string("delivered"))
            guard case .object(let result)? = deliveredEvent.data["result"] else {
                Issue.record("no result in \(deliveredEvent.data)")
                return
            }
            #expect(result["messageStatus"] == .string("delivered"), "the result as the callback left it")
            let failedEvent = try #require(written.first { $0.type == "message.failed" })
            #expect(failedEvent.data["errorCode"] == .int(30003))
            #expect(failedEvent.data["errorMeaning"] != nil && failedEvent.data["errorMeaning"] != .null)
            #expect(failedEvent.data["jobId"] == nil, "no job, no job fields")
            let reply = try #require(written.first { $0.type == "reply.received" })
            #expect(reply.data["body"] == .string("Sounds good") && reply.data["replyTo"] == .string(delivered))
            #expect(reply.data["jobId"] == .int(jobID))
            let consent = written.filter { $0.type == "optout.changed" }
            #expect(consent.map { $0.data["optedOut"] } == [.bool(true), .bool(false)])
            #expect(consent.allSatisfy { $0.subject == "address:\(hooks.accountID):+15550009999" })
            #expect(consent.first?.data["source"] == .string("keyword"))
            let callEvent = try #require(written.first { $0.type == "call.completed" })
            #expect(callEvent.data["duration"] == .int(42) && callEvent.subject == "call:\(call)")
            // One delivery each, with its job.
            #expect(
                try await hooks.db.integer(
                    """
                    SELECT count(*) FROM switchboard.event_deliveries d JOIN switchboard.jobs j ON j.id = d.job_id
                    WHERE d.subscription_id = \(subscription) AND j.kind = 'event.deliver' AND d.state = 'pending'
                    """) == written.count)
        }
    }

    @Test func nothingIsWrittenForNobodyNorForAnotherAccountNorForTypesNotAskedFor() async throws {
        try await WebhookHarness.with { hooks in
            let statusPath = "/twilio/messages/status"
            try await hooks.recordMessage(sid: sid("SM", 11), jobID: nil, to: "+15550002222")
            #expect(try await hooks.post(statusPath, status(sid("SM", 11), "delivered")).status == 204)
            #expect(try await events(hooks.db).isEmpty, "no subscription")
            // Another account's subscription, and one for replies only.
            _ = try await hooks.accounts.upsert(
                name: "other", accountSID: "AC" + String(repeating: "0b", count: 16), secret: "another-test-token")
            _ = try await subscribe(hooks, account: "other")
            _ = try await subscribe(hooks, events: ["reply.received"])
            try await hooks.recordMessage(sid: sid("SM", 12), jobID: nil, to: "+15550002222")
            #expect(try await hooks.post(statusPath, status(sid("SM", 12), "delivered")).status == 204)
            #expect(try await events(hooks.db).isEmpty)
            // A subscription to every account's events gets them.
            _ = try await subscribe(hooks, events: ["message.delivered"], account: nil)
            try await hooks.recordMessage(sid: sid("SM", 13), jobID: nil, to: "+15550002222")
            #expect(try await hooks.post(statusPath, status(sid("SM", 13), "delivered")).status == 204)
            #expect(try await events(hooks.db).map(\.type) == ["message.delivered"])
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.event_deliveries") == 1)
        }
    }

    @Test func aSessionsEndIsAnEventOrderedWithItsCall() async throws {
        try await WebhookHarness.with { hooks in
            _ = try await subscribe(hooks, events: ["session.completed", "call.completed"])
            let questions = try JSONDecoder().decode(JSONValue.self, from: Data(ExampleFlows.survey.utf8))
            let spec = try VoiceAgentRequest(
                account: "main", to: "+15550001234", from: "+15557654321", questions: questions
            ).resolve()
            let job = try await hooks.db.store.enqueue(NewJob(kind: "noop")).id
            let session = try await SessionStore(pool: hooks.db.pool).open(
                jobID: job, accountID: hooks.accountID, spec: spec)
            let call = sid("CA", 20)
            let turn: FormParameters = ["CallSid": call, "AccountSid": accountSID, "CallStatus": "in-progress"]
            #expect(try await hooks.post("/twilio/voice/sessions/\(session)", turn).status == 200)
            try await DeliveryStore(pool: hooks.db.pool).recordCall(
                sid: call, jobID: job, accountID: hooks.accountID, to: "+15550001234", from: "+15557654321",
                status: "in-progress", origin: "created")
            let ended: FormParameters = [
                "CallSid": call, "CallStatus": "completed", "CallDuration": "12", "AccountSid": accountSID,
            ]
            #expect(try await hooks.post("/twilio/calls/status", ended).status == 204)
            let written = try await events(hooks.db)
            #expect(Set(written.map(\.type)) == ["session.completed", "call.completed"])
            #expect(written.allSatisfy { $0.subject == "call:\(call)" }, "one subject: delivered in order")
            let sessionEvent = try #require(written.first { $0.type == "session.completed" })
            #expect(sessionEvent.data["agentOutcome"] == .string("hangup"))
            #expect(sessionEvent.data["sessionId"] == .int(session) && sessionEvent.data["jobId"] == .int(job))
            #expect(sessionEvent.data["transcript"] != nil && sessionEvent.data["answers"] != nil)
        }
    }
}
