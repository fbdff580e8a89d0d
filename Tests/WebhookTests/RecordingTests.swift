import Foundation
import Postgres
import SwitchboardCore
import SwitchboardEvents
import SwitchboardStore
import SwitchboardWebhook
import TestSupport
import Testing
import Twilio
import TwilioSimulator

/// Issue 13: a recorded call's recording reaches its job's result (never its audio), the
/// recording status callback is checked and emits `recording.completed`, and a deleted
/// recording is gone at Twilio and leaves the result.
@Suite struct RecordingTests {
    @Test func aRecordedAgentCallCarriesItsRecordingAndDeletingItRemovesItAtTwilioAndHere() async throws {
        let simulated = scriptedSimulator(["+15550009301": [.speech("eight"), .speech("the speed"), .speech("no")]])
        let questions = try JSONDecoder().decode(JSONValue.self, from: Data(ExampleFlows.survey.utf8))
        var request = VoiceAgentRequest(
            account: "main", to: "+15550009301", from: "+15557654321", questions: questions)
        request.record = true
        request.recordingChannels = "dual"
        let simulator = TwilioSimulator(configuration: simulated)
        try await LLMAgentTests.call(request, llm: LLMConfiguration(), simulator: simulator) { db, job, simulator, _ in
            func result() async throws -> [String: JSONValue] {
                try await db.store.job(id: job)?.result?.decode([String: JSONValue].self) ?? [:]
            }
            // The recording's status follows the call's end.
            #expect(await eventually { try await result()["recordingUrl"] != nil })
            let recorded = try #require(await simulator.recordings().first)
            #expect(recorded.channels == 2 && recorded.duration > 0)
            let done = try await result()
            #expect(done["recordingSid"] == .string(recorded.sid))
            #expect(done["recordingUrl"]?.stringValue?.hasSuffix("/Recordings/\(recorded.sid)") == true)
            #expect(done["recordingChannels"] == .int(2) && done["recordingDuration"] == .int(Int64(recorded.duration)))
            let call = try #require(await simulator.calls().first)
            #expect(call.record && call.recordingChannels == "dual")
            let store = RecordingStore(pool: db.pool)
            let kept = try await store.list(callSID: call.resource.sid)
            #expect(kept.count == 1 && kept.first?.status == "completed" && kept.first?.jobID == job)

            // Deleting: at Twilio (as `recordings delete` does), then here.
            let client = TwilioClient(configuration: .init(baseURL: simulator.baseURL!, timeout: .seconds(5)))
            let credentials = TwilioCredentials(accountSID: accountSID, authToken: authToken)
            #expect(try await client.deleteRecording(sid: recorded.sid, credentials: credentials))
            #expect(try await store.markDeleted(sid: recorded.sid))
            #expect(await simulator.recordings().first?.deleted == true)
            #expect(try await client.deleteRecording(sid: recorded.sid, credentials: credentials) == false, "404")
            #expect(try await store.markDeleted(sid: recorded.sid) == false)
            let after = try await result()
            #expect(after["recordingUrl"] == .null && after["recordingStatus"] == .string("deleted"))
            #expect(try await store.list(callSID: call.resource.sid).first?.mediaURL == nil)
        }
    }

    @Test func theRecordingCallbackIsCheckedKeptOnceAndAnEvent() async throws {
        try await WebhookHarness.with { hooks in
            _ = try await EventStore(pool: hooks.db.pool, vault: hooks.vault).subscribe(
                url: "http://127.0.0.1:9/hook", eventTypes: ["recording.completed"], account: nil,
                secret: WebhookSecret().text)
            let job = try await hooks.db.store.enqueue(NewJob(kind: "noop")).id
            let call = sid("CA", 90)
            try await DeliveryStore(pool: hooks.db.pool).recordCall(
                sid: call, jobID: job, accountID: hooks.accountID, to: "+15550004444", from: "+14155550100",
                status: "completed", origin: "created")
            let recording = sid("RE", 91)
            func form(_ changes: [String: String?] = [:]) -> FormParameters {
                var fields: [String: String?] = [
                    "AccountSid": accountSID, "CallSid": call, "RecordingSid": recording,
                    "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/\(accountSID)/Recordings/\(recording)",
                    "RecordingStatus": "completed", "RecordingDuration": "17", "RecordingChannels": "1",
                    "RecordingSource": "OutboundAPI",
                ]
                fields.merge(changes) { $1 }
                var form = FormParameters()
                for (key, value) in fields.sorted(by: { $0.key < $1.key }) { form.append(key, value) }
                return form
            }
            let path = WebhookPaths.recordingStatus
            for (changes, refusal) in [
                (["RecordingSid": "RE123"], "RecordingSid"), (["CallSid": nil], "CallSid"),
                (["RecordingUrl": "javascript:alert(1)"], "RecordingUrl"),
                (["RecordingChannels": "3"], "RecordingChannels"), (["RecordingDuration": "long"], "RecordingDuration"),
                (["RecordingStatus": nil], "RecordingStatus"),
            ] as [([String: String?], String)] {
                let answer = try await hooks.post(path, form(changes))
                #expect(answer.status == 400 && answer.body.contains(refusal), "\(changes): \(answer.body)")
            }
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.recordings") == 0, "nothing kept")
            #expect(try await hooks.post(path, form(["RecordingStatus": "paused-forever"])).status == 204, "ignored")
            #expect(try await hooks.post(path, form()).status == 204)
            #expect(try await hooks.post(path, form()).status == 204, "Twilio's retry")
            #expect(try await hooks.post(path, form(["CallSid": sid("CA", 99)])).status == 204, "not our call")
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.recordings") == 1)
            let events = try await hooks.db.pool.query(
                "SELECT subject, data ->> 'recordingUrl', data -> 'result' ->> 'recordingDuration' FROM switchboard.events"
            )
            #expect(events.count == 1, "one event, not one per retry")
            #expect(try events.first?.decode(String.self, at: 0) == "call:\(call)")
            #expect(try events.first?.decode(String.self, at: 1).hasSuffix(recording) == true)
            #expect(try events.first?.decode(String.self, at: 2) == "17")
        }
    }
}
