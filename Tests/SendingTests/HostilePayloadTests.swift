import Foundation
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import TestSupport
import Testing

/// Payloads written by hand (plain INSERT or `switchboard.enqueue`, which cannot run Swift's
/// validation): the worker checks each one again, fails it with the field named, and never crashes.
@Suite struct HostilePayloadTests {
    /// Shaped like a stored, validated spec, but not valid: each must fail without reaching Twilio.
    static let forged: [(kind: String, payload: String, field: String)] = [
        (
            "sms",
            #"{"channel":"sms","account":"main","to":"+1555","from":"+15557654321","body":"x","mediaUrls":[],"smartEncoding":false,"segments":1,"encoding":"GSM-7"}"#,
            "to"
        ),
        (
            "sms",
            #"{"channel":"sms","account":"main","to":"+15559876543","from":"+15557654321","body":"\#(String(repeating: "a", count: 5000))","mediaUrls":[],"smartEncoding":false,"segments":1,"encoding":"GSM-7"}"#,
            "body"
        ),
        (
            "sms",
            #"{"channel":"whatsapp","account":"main","to":"whatsapp:+15559876543","from":"whatsapp:+15557654321","body":"x","mediaUrls":[],"smartEncoding":false,"segments":1,"encoding":"GSM-7"}"#,
            "channel"
        ),
        (
            "voice",
            #"{"account":"main","to":"+15559876543","from":"+15557654321","twiml":"<Response><Dial>+19005551234</Dial></Response>","record":false}"#,
            "twiml"
        ),
        (
            "voice_agent",
            #"{"account":"main","to":"+15559876543","from":"+15557654321","agentType":"llm","llm":{"model":"m","systemPrompt":"p","temperature":9,"maxTokens":10,"maxConversationTurns":3,"conversationTimeout":1,"allowUserHangup":true},"voice":"alice","language":"en-US","timeLimit":600}"#,
            "temperature"
        ),
        // A request (not a spec) with a template nested 5,000 deep: it used to crash the worker.
        (
            "sms",
            #"{"account":"main","to":"+15559876543","from":"+15557654321","body":"\#(String(repeating: "{{#if a}}", count: 5000))x\#(String(repeating: "{{/if}}", count: 5000))"}"#,
            "body"
        ),
    ]

    @Test func forgedPayloadsFailNamingTheFieldAndNothingIsSent() async throws {
        try await SendingHarness.with { harness, _ in
            var ids: [Int64] = []
            for item in Self.forged {
                let rows = try await harness.db.pool.query(
                    "SELECT id FROM switchboard.enqueue(\(item.kind), \(item.payload)::jsonb)")
                ids.append(try rows.firstRow().decode(Int64.self, at: 0))
            }
            for (item, id) in zip(Self.forged, ids) {
                let job = try await harness.finished(id)
                #expect(job.state == .failed, "\(item.kind) \(item.field)")
                #expect(job.attempt == 1, "failed at once, not retried: \(item.field)")
                let error = job.errors.first?.error ?? ""
                #expect(error.contains("invalid payload: \(item.field):"), "\(error.prefix(200))")
            }
            #expect(await harness.simulator.messages().isEmpty)
            #expect(await harness.simulator.calls().isEmpty)
        }
    }
}
