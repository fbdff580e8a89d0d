import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore
import TestSupport
import Testing
import Twilio

/// Inbound messages: keywords change consent (in the number's and its pools' scope) and are
/// answered; other messages become the reply of the job that wrote to that person.
@Suite struct InboundMessageTests {
    func inbound(_ messageSID: String, from: String, to: String, body: String) -> FormParameters {
        [
            "MessageSid": messageSID, "SmsMessageSid": messageSID, "AccountSid": accountSID, "From": from, "To": to,
            "Body": body, "NumMedia": "0", "SmsStatus": "received", "ApiVersion": "2010-04-01",
        ]
    }

    let path = "/twilio/messages/inbound"

    @Test func stopStartAndHelpChangeConsentInTheNumbersScopesAndAreAnswered() async throws {
        try await WebhookHarness.with { (hooks: WebhookHarness) async throws in
            let senders = SenderStore(pool: hooks.db.pool)
            let number = try await senders.addSender(
                accountID: hooks.accountID, address: "+14155550100", kind: .longCode)
            try await senders.createPool(accountID: hooks.accountID, name: "promo", senderIDs: [number])
            let person = "+15550005555"
            let stop = try await hooks.post(
                path, inbound(sid("SM", 50), from: person, to: "+14155550100", body: " stop "))
            #expect(stop.status == 200)
            #expect(stop.body.contains("<Message>You have been unsubscribed"))
            let deliveries = DeliveryStore(pool: hooks.db.pool)
            func suppressed() async throws -> [Bool] {
                try await deliveries.suppressed([
                    (hooks.accountID, person, "+14155550100", nil), (hooks.accountID, person, nil, "promo"),
                    (hooks.accountID, person, "+14155550199", nil),
                ])
            }
            #expect(try await suppressed() == [true, true, false], "the number and its pool, not other numbers")
            // Twilio retries a webhook it got no answer to: same answer, nothing recorded twice.
            let again = try await hooks.post(
                path, inbound(sid("SM", 50), from: person, to: "+14155550100", body: " stop "))
            #expect(again.body == stop.body)
            let history = try await deliveries.consentHistory(accountID: hooks.accountID, address: person)
            #expect(history.map(\.event) == ["opt_out", "opt_out"], "one per scope (number, pool)")
            #expect(history.allSatisfy { $0.source == "keyword" })
            let help = try await hooks.post(
                path, inbound(sid("SM", 51), from: person, to: "+14155550100", body: "HELP"))
            #expect(help.body.contains("Reply STOP to unsubscribe"))
            #expect(try await suppressed() == [true, true, false])
            let start = try await hooks.post(
                path, inbound(sid("SM", 52), from: person, to: "+14155550100", body: "Start"))
            #expect(start.body.contains("resubscribed"))
            #expect(try await suppressed() == [false, false, false])
            // "Stop please" is a sentence, not a keyword.
            let sentence = try await hooks.post(
                path, inbound(sid("SM", 53), from: person, to: "+14155550100", body: "Stop please"))
            #expect(sentence.body.contains("<Response/>"))
            #expect(try await suppressed() == [false, false, false])
        }
    }

    @Test func aReplyBecomesTheJobsSMSReply() async throws {
        try await WebhookHarness.with { (hooks: WebhookHarness) async throws in
            let person = "+15550006666"
            let older = try await hooks.db.store.enqueue(NewJob(kind: "noop")).id
            let latest = try await hooks.db.store.enqueue(NewJob(kind: "noop")).id
            try await hooks.recordMessage(sid: sid("SM", 60), jobID: older, to: person)
            try await hooks.recordMessage(sid: sid("SM", 61), jobID: latest, to: person)
            // Another number wrote to the same person later: not the conversation being answered.
            try await hooks.recordMessage(sid: sid("SM", 62), jobID: nil, to: person, from: "+14155550199")
            let listener = PostgresListener(configuration: hooks.db.configuration, channels: [InboundStore.channel])
            let notified = Task { () -> String? in
                for try await event in listener {
                    if case .notification(let note) = event { return note.payload }
                }
                return nil
            }
            #expect(await hooks.db.listening(on: InboundStore.channel))
            let answer = try await hooks.post(
                path, inbound(sid("SM", 63), from: person, to: "+14155550100", body: "RESCHEDULE to Friday please"))
            #expect(answer.status == 200 && answer.body.contains("<Response/>"))
            let result = try await hooks.db.store.job(id: latest)?.result?.decode([String: JSONValue].self)
            #expect(result?["smsReply"] == .string("RESCHEDULE to Friday please"))
            #expect(result?["smsReplySid"] == .string(sid("SM", 63)))
            #expect(try await hooks.db.store.job(id: older)?.result == nil)
            let payload = try await notified.value
            notified.cancel()
            #expect(payload?.contains("\"jobId\":\(latest)") == true, "\(payload ?? "nil")")
            // A message from someone we never wrote to is kept, bound to nothing.
            _ = try await hooks.post(
                path, inbound(sid("SM", 64), from: "+15550007777", to: "+14155550100", body: "who?"))
            let stranger = try await hooks.db.pool.query(
                "SELECT reply_to_sid, job_id FROM switchboard.inbound_messages WHERE sid = \(sid("SM", 64))")[0]
            #expect(try stranger.decode(String?.self, at: 0) == nil && stranger.decode(Int64?.self, at: 1) == nil)
        }
    }
}
