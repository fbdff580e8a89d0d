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
        let spec: VoiceAgentSpec
        do {
            if let stored = try? job.payload.decode(VoiceAgentSpec.self) {
                // Checked again: a producer's plain INSERT can look validated without being so.
                spec = try SendJobs.withQuietHours(try stored.validated())
            } else {
                spec = try SendJobs.withQuietHours(try job.payload.decode(VoiceAgentRequest.self).resolve())
            }
        } catch {
            return .failed(error: "invalid payload: \(error)", permanent: true)
        }
        guard let base = webhookBaseURL else {
            return .failed(
                error: "voice_agent: this worker has no SWITCHBOARD_PUBLIC_URL (where `switchboard webhook` answers "
                    + "the call's turns)", permanent: true)
        }
        let account: AccountCache.Entry
        switch try await usableAccount(spec.account) {
        case .success(let entry): account = entry
        case .failure(let refusal): return refusal.outcome
        }
        let sessions = SessionStore(pool: deliveries.pool)
        let sessionID = try await sessions.open(jobID: job.id, accountID: account.record.id, spec: spec)
        switch try await callGate(job, to: spec.to, from: spec.from, quietHours: spec, account: account, context) {
        case .adopted(let call):
            try await sessions.attach(sessionID: sessionID, callSID: call.sid)
            return .completed(result: Self.agentResult(call, spec, sessionID))
        case .hold(let outcome): return outcome
        case .proceed: break
        }
        var request = CreateCallRequest(to: spec.to, from: spec.from, url: base + WebhookPaths.session(sessionID))
        request.timeout = spec.timeout
        request.timeLimit = spec.timeLimit
        request.statusCallback = base + WebhookPaths.callStatus
        request.statusCallbackEvents = ["initiated", "ringing", "answered", "completed"]
        return try await createAndRecordCall(
            request, job: job, account: account, context,
            recorded: { call in try await sessions.attach(sessionID: sessionID, callSID: call.sid) },
            result: { call in Self.agentResult(call, spec, sessionID) })
    }

    static func agentResult(_ call: TwilioCall, _ spec: VoiceAgentSpec, _ sessionID: Int64) -> String {
        JSONValue.object([
            "callSid": .string(call.sid), "callStatus": .string(call.status), "recipientNumber": .string(spec.to),
            "sessionId": .int(sessionID), "sentTimestamp": timestamp(call.dateCreated),
        ]).jsonText
    }
}
