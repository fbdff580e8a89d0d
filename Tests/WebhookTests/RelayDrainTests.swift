import Foundation
import SwitchboardCore
import SwitchboardStore
import SwitchboardWebhook
import Synchronization
import TestSupport
import Testing
import Twilio

/// A webhook host that shuts down with live relay calls: it stops taking new ones, hands each
/// live one off with `end` at a moment nothing is being said, and the `<Connect action>` request
/// continues the call by `<Gather>` from the session in Postgres. Over real sockets on loopback.
@Suite struct RelayDrainTests {
    static let callSID = "CA00000000000000000000000000000042"

    /// Twilio's request of the `<Connect action>` after the relay session ended.
    static func connectAction(_ hooks: WebhookHarness, session id: Int64, handoff: String?) async throws
        -> WebhookHarness.Answer
    {
        var form = FormParameters()
        form.append("AccountSid", accountSID)
        form.append("CallSid", callSID)
        form.append("CallStatus", "in-progress")
        form.append("HandoffData", handoff)
        return try await hooks.post(WebhookPaths.relayEnded(id), form)
    }

    static func gathered(_ hooks: WebhookHarness, session id: Int64, turn: Int, speech: String) async throws
        -> WebhookHarness.Answer
    {
        var form = FormParameters()
        form.append("AccountSid", accountSID)
        form.append("CallSid", callSID)
        form.append("SpeechResult", speech)
        form.append("Confidence", "0.93")
        return try await hooks.post(WebhookPaths.sessionTurn(id, turn), form)
    }

    @Test func aDrainedInterviewIsHandedOffAndGoesOnByGather() async throws {
        try await WebhookHarness.with(.live) { (hooks: WebhookHarness) async throws in
            let relays = try #require(hooks.relays)
            let id = try await RelayTests().session(hooks)
            let handoff = Mutex<String?>(nil)
            let report = Mutex<RelayDrain.Report?>(nil)
            try await RelayTests().converse(hooks, session: id) { frames, outbound in
                try await outbound.write(.text(RelayTests.setup))
                _ = try #require(try await frames.next())
                try await outbound.write(.text(#"{"type":"dtmf","digit":"8"}"#))
                let second = try #require(try await frames.next())
                #expect(second["token"]?.stringValue?.contains("testimonial") == true, "\(second)")
                #expect(relays.liveCount == 1)

                let draining = Task { await relays.drain(timeout: .milliseconds(300), handOffTimeout: .seconds(5)) }
                let end = try #require(try await frames.next())
                #expect(end["type"] == .string("end"), "\(end)")
                handoff.withLock { $0 = end["handoffData"]?.stringValue }
                #expect(try await frames.next() == nil, "the socket closes after end")
                report.withLock { $0 = nil }
                let done = await draining.value
                report.withLock { $0 = done }
            }
            #expect(report.withLock { $0 } == RelayDrain.Report(finished: 0, handedOff: 1, leftOpen: 0))
            let data = try #require(handoff.withLock { $0 })
            let parsed = try JSONDecoder().decode(JSONValue.self, from: Data(data.utf8))
            #expect(parsed["reason"] == .string("hand_off") && parsed["sessionId"] == .int(id), "\(data)")

            // While draining: not ready, and no new socket.
            let ready = try await hooks.get("/ready")
            #expect(ready.status == 503 && ready.body == "draining", "\(ready)")
            await #expect(throws: (any Error).self, "a draining host refuses the upgrade") {
                try await RelayTests().connect(hooks, session: id)
            }

            // Twilio requests the <Connect action>: the interview goes on by <Gather>, at the
            // question the caller was asked, as the next turn; a repeated request gets the same.
            let produced = try #require(try await SessionStore(pool: hooks.db.pool).session(id: id)).turn
            let action = try await Self.connectAction(hooks, session: id, handoff: data)
            #expect(action.status == 200)
            #expect(action.body.contains("<Gather") && action.body.contains("testimonial"), "\(action.body)")
            #expect(action.body.contains(WebhookPaths.sessionTurn(id, produced + 1)), "\(action.body)")
            let repeated = try await Self.connectAction(hooks, session: id, handoff: data)
            #expect(repeated.body == action.body, "a repeated action request replays the continuation")

            let third = try await Self.gathered(hooks, session: id, turn: produced + 1, speech: "Yes, happy to")
            #expect(third.body.contains("done better"), "\(third.body)")
            let goodbye = try await Self.gathered(hooks, session: id, turn: produced + 2, speech: "Nothing at all")
            #expect(goodbye.body.contains("<Hangup/>"), "\(goodbye.body)")
            let stored = try #require(try await SessionStore(pool: hooks.db.pool).session(id: id))
            #expect(stored.status == .ended && stored.outcome == .completed)
            let jobID = try #require(stored.jobID)
            let result = try #require(try await hooks.db.store.job(id: jobID)?.result?.decode([String: JSONValue].self))
            #expect(result["satisfaction_rating"] == .string("8"))
            #expect(result["testimonial_request"] == .string("yes"))
            #expect(result["improvement_feedback"] == .string("Nothing at all"))
            // An ended session's action is a hangup.
            #expect(try await Self.connectAction(hooks, session: id, handoff: nil).body == TwiML.hangup)
        }
    }

    /// An LLM answer being spoken when the drain's time is up is finished (and stored) first;
    /// then the call is handed off, and the `<Gather>` repeats the answer it ended on.
    @Test func aDrainedConversationFinishesTheAnswerBeingSpokenFirst() async throws {
        let gate = FakeOpenAI.StreamGate()
        let model = FakeOpenAI(port: try freeLoopbackPort(), apiKey: LLMRelayTests.key) { _, _ in
            .streamed(["Your order", " ships", " today."], gate: gate)
        }
        let modelTask = try await model.start()
        defer { modelTask.stop() }
        try await WebhookHarness.with(.live, llm: LLMRelayTests.llm(model)) { (hooks: WebhookHarness) async throws in
            let relays = try #require(hooks.relays)
            let id = try await LLMRelayTests.conversation(hooks)
            try await RelayTests().converse(hooks, session: id) { frames, outbound in
                try await outbound.write(.text(RelayTests.setup))
                _ = try #require(try await frames.next())
                try await outbound.write(.text(RelayTests.prompt("Where is my order?")))
                let first = try #require(try await frames.next())
                #expect(first["token"] == .string("Your order") && first["last"] == .bool(false))

                let draining = Task { await relays.drain(timeout: .zero, handOffTimeout: .seconds(5)) }
                #expect(await eventually { relays.isDraining })
                try await Task.sleep(for: .milliseconds(100))
                gate.open()
                var rest: [String] = []
                var frame = try #require(try await frames.next())
                while frame["type"] == .string("text") {
                    rest.append(frame["token"]?.stringValue ?? "")
                    frame = try #require(try await frames.next())
                }
                #expect(rest.joined() == " ships today.", "the answer was spoken to its end: \(rest)")
                #expect(
                    frame["type"] == .string("end") && frame["handoffData"]?.stringValue?.contains("hand_off") == true)
                #expect(await draining.value.handedOff == 1)
            }
            #expect(model.abandonedStreams == 0, "the model's answer was not cut off")
            let action = try await Self.connectAction(hooks, session: id, handoff: nil)
            #expect(
                action.body.contains("<Gather") && action.body.contains("Your order ships today."), "\(action.body)")
            let stored = try #require(try await SessionStore(pool: hooks.db.pool).session(id: id))
            guard case .conversation(let conversation)? = stored.state else {
                Issue.record("no conversation")
                return
            }
            #expect(conversation.history.map(\.content).suffix(2) == ["Where is my order?", "Your order ships today."])
            #expect(stored.status == .active && stored.relayEndedTurn == stored.turn)
        }
    }
}
