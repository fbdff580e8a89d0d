import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore
import TestSupport
import Testing
import Twilio

/// Issue 11 §4: the account whose auth token signed a webhook is the tenant of the request. A
/// callback signed by account B must not touch account A's messages, calls, sessions, suppressions.
@Suite struct CrossAccountTests {
    let otherSID = "AC" + String(repeating: "0b0b", count: 8)
    let otherToken = "the-other-accounts-token-0002"

    @Test func aCallbackSignedByAnotherAccountChangesNothingOfThisOne() async throws {
        try await WebhookHarness.with { hooks in
            try await hooks.accounts.upsert(name: "other", accountSID: otherSID, secret: otherToken)
            let jobID = try await hooks.db.store.enqueue(NewJob(kind: "noop")).id
            let message = sid("SM", 11)
            try await hooks.recordMessage(sid: message, jobID: jobID, to: "+15550003333")
            func callback(_ account: String) -> FormParameters {
                ["MessageSid": message, "MessageStatus": "undelivered", "ErrorCode": "21610", "AccountSid": account]
            }
            let forged = callback(otherSID)
            // Correctly signed, by the other account: accepted (Twilio must not retry) and ignored.
            #expect(try await hooks.post("/twilio/messages/status", forged, token: otherToken).status == 204)
            #expect(try await hooks.status(of: message) == "queued")
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.suppressions") == 0)
            // Kept as pending for the other account, and dropped when this account's message is recorded.
            let early = sid("SM", 12)
            #expect(
                try await hooks.post(
                    "/twilio/messages/status",
                    [
                        "MessageSid": early, "MessageStatus": "undelivered", "ErrorCode": "21610",
                        "AccountSid": otherSID,
                    ],
                    token: otherToken
                ).status == 204)
            try await hooks.recordMessage(sid: early, jobID: nil, to: "+15550004444")
            #expect(try await hooks.status(of: early) == "queued")
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.suppressions") == 0)
            // The same callback signed by the owner applies.
            #expect(try await hooks.post("/twilio/messages/status", callback(accountSID)).status == 204)
            #expect(try await hooks.status(of: message) == "undelivered")
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.suppressions") == 1)
        }
    }

    @Test func aCallStatusSignedByAnotherAccountDoesNotEndThisOnesSession() async throws {
        try await WebhookHarness.with { hooks in
            try await hooks.accounts.upsert(name: "other", accountSID: otherSID, secret: otherToken)
            let questions = try JSONDecoder().decode(JSONValue.self, from: Data(ExampleFlows.survey.utf8))
            let spec = try VoiceAgentRequest(
                account: "main", to: "+15550001234", from: "+15557654321", questions: questions
            ).resolve()
            let job = try await hooks.db.store.enqueue(NewJob(kind: "noop")).id
            let sessions = SessionStore(pool: hooks.db.pool)
            let session = try await sessions.open(jobID: job, accountID: hooks.accountID, spec: spec)
            let call = sid("CA", 21)
            try await sessions.attach(sessionID: session, callSID: call)
            try await DeliveryStore(pool: hooks.db.pool).recordCall(
                sid: call, jobID: job, accountID: hooks.accountID, to: "+15550001234", from: "+15557654321",
                status: "in-progress", origin: "created")
            func ended(_ account: String) -> FormParameters {
                ["CallSid": call, "CallStatus": "completed", "CallDuration": "5", "AccountSid": account]
            }
            #expect(try await hooks.post("/twilio/calls/status", ended(otherSID), token: otherToken).status == 204)
            #expect(try await sessions.session(id: session)?.status != .ended)
            let callStatus = try await hooks.db.pool.query(
                "SELECT status FROM switchboard.calls WHERE sid = \(call)"
            ).firstRow().decode(String.self, at: 0)
            #expect(callStatus == "in-progress")
            // A turn of this account's session signed by the other account is not served either.
            let turn: FormParameters = ["CallSid": call, "AccountSid": otherSID, "CallStatus": "in-progress"]
            #expect(
                try await hooks.post("/twilio/voice/sessions/\(session)", turn, token: otherToken).status == 404)
            #expect(try await hooks.post("/twilio/calls/status", ended(accountSID)).status == 204)
            #expect(try await sessions.session(id: session)?.status == .ended)
        }
    }

    @Test func inboundMessagesOptOutOnlyInTheSigningAccount() async throws {
        try await WebhookHarness.with { hooks in
            let otherID = try await hooks.accounts.upsert(name: "other", accountSID: otherSID, secret: otherToken)
            let stop: FormParameters = [
                "MessageSid": sid("SM", 31), "AccountSid": otherSID, "From": "+15550005555", "To": "+15557654321",
                "Body": "STOP",
            ]
            #expect(try await hooks.post("/twilio/messages/inbound", stop, token: otherToken).status == 200)
            let deliveries = DeliveryStore(pool: hooks.db.pool)
            #expect(
                try await deliveries.isSuppressed(
                    accountID: otherID, address: "+15550005555", sender: "+15557654321", pool: nil))
            #expect(
                try await !deliveries.isSuppressed(
                    accountID: hooks.accountID, address: "+15550005555", sender: "+15557654321", pool: nil))
        }
    }
}
