import Foundation
import SwitchboardCore
import SwitchboardStore
import SwitchboardWorker
import Twilio

extension TwilioSender {
    /// `voice_agent`: opens the job's session, places the call with its URL pointing at the
    /// session on `switchboard webhook`, and completes once Twilio has the call; the webhook then
    /// runs the interview and writes the answers into the job's result when the session ends.
    func placeAgentCall(_ job: ClaimedJob, _ context: JobContext) async throws -> JobOutcome {
        try await throughGates {
            var spec = try Self.parsed {
                if let stored = try? job.payload.decode(VoiceAgentSpec.self) {
                    // Checked again: a producer's plain INSERT can look validated without being so.
                    return try SendJobs.withQuietHours(try stored.validated())
                }
                return try SendJobs.withQuietHours(try job.payload.decode(VoiceAgentRequest.self).resolve())
            }
            guard let base = webhookBaseURL else {
                return .failed(
                    error: "voice_agent: this worker has no SWITCHBOARD_PUBLIC_URL (where `switchboard webhook` "
                        + "answers the call's turns)", permanent: true)
            }
            // Stored with the session, so what monitors show is what the call uses.
            let transport = spec.transport(publicURL: base)
            spec.transport = transport
            let account = try await admittedAccount(spec.account)
            let sessions = SessionStore(pool: deliveries.pool)
            let sessionID = try await sessions.open(jobID: job.id, accountID: account.record.id, spec: spec)
            if let adopted = try await callGates(job, to: spec.to, from: spec.from, quietHours: spec, account, context)
            {
                try await sessions.attach(sessionID: sessionID, callSID: adopted.sid)
                return .completed(result: Self.agentResult(adopted, spec, sessionID))
            }
            var request: CreateCallRequest
            switch transport {
            case .gather:
                request = CreateCallRequest(to: spec.to, from: spec.from, url: base + WebhookPaths.session(sessionID))
            case .relay:
                request = CreateCallRequest(
                    to: spec.to, from: spec.from,
                    twiml: spec.relayTwiML(base: base, sessionID: sessionID, accountSID: account.record.accountSID))
            }
            request.timeout = spec.timeout
            request.timeLimit = spec.timeLimit
            if spec.record == true {
                request.record = true
                request.recordingChannels = spec.recordingChannels
                request.recordingStatusCallback = base + WebhookPaths.recordingStatus
            }
            request.statusCallback = base + WebhookPaths.callStatus
            request.statusCallbackEvents = ["initiated", "ringing", "answered", "completed"]
            return try await createAndRecordCall(
                request, job: job, account: account, context,
                recorded: { call in try await sessions.attach(sessionID: sessionID, callSID: call.sid) },
                result: { call in Self.agentResult(call, spec, sessionID) })
        }
    }

    static func agentResult(_ call: TwilioCall, _ spec: VoiceAgentSpec, _ sessionID: Int64) -> String {
        JSONValue.object([
            "callSid": .string(call.sid), "callStatus": .string(call.status), "recipientNumber": .string(spec.to),
            "sessionId": .int(sessionID), "sentTimestamp": timestamp(call.dateCreated),
        ]).jsonText
    }
}
