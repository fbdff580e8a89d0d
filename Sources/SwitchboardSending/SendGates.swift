import Foundation
import SwitchboardCore
import SwitchboardStore
import SwitchboardWorker
import Twilio

/// A gate on the send path stopped the job with this outcome.
struct Stop: Error {
    var outcome: JobOutcome
}

/// Runs a handler written as a list of gates: each gate hands the next what it established, or
/// throws `Stop` with the job's outcome (not sent now, not ever, or already sent). One way out
/// of a handler, as in Oban's executor; any other error is the attempt's failure.
func throughGates(_ body: () async throws -> JobOutcome) async throws -> JobOutcome {
    do { return try await body() } catch let stop as Stop { return stop.outcome }
}

/// The gates the handlers share, in the order a send meets them.
extension TwilioSender {
    /// The payload as a validated spec; a payload that does not validate never will.
    static func parsed<Spec>(_ parse: () throws -> Spec) throws(Stop) -> Spec {
        do { return try parse() } catch {
            throw Stop(outcome: .failed(error: "invalid payload: \(error)", permanent: true))
        }
    }

    /// The account's credentials; an unknown or flagged account fails the job for good.
    func admittedAccount(_ name: String) async throws -> AccountCache.Entry {
        guard let account = try await cache.lookup(name) else {
            throw Stop(
                outcome: .failed(
                    error: "account: no Twilio account named '\(name)' (add it with `switchboard accounts add`)",
                    permanent: true))
        }
        if let flagged = account.record.flagReason {
            throw Stop(outcome: .failed(error: "account '\(name)' is flagged: \(flagged)", permanent: true))
        }
        return account
    }

    /// A campaign send goes on only while its campaign is active; its rate cap, if any. A paused
    /// campaign holds the job (its kept bookings survive), a cancelled or deleted one ends it.
    func admittingCampaign(_ campaignID: Int64?, _ job: ClaimedJob) async throws -> Double? {
        guard let campaignID else { return nil }
        let (state, rateCap) = try await campaignStates.submit(campaignID)
        switch state {
        case .active: return rateCap
        case .paused: throw Stop(outcome: .snoozed(delay: .seconds(1), metadata: job.metadata.text))
        case .cancelled: throw Stop(outcome: .cancelled(reason: "campaign cancelled"))
        case nil: throw Stop(outcome: .cancelled(reason: "campaign deleted"))
        }
    }

    /// Outside the recipient's send window the job waits for it to open (no attempt used).
    func withinSendWindow(_ spec: some QuietHoursSpec) throws(Stop) {
        if let wait = SendJobs.quietWait(window: spec.sendWindow, timezone: spec.timezone) {
            throw Stop(outcome: .snoozed(delay: wait, metadata: "{}"))
        }
    }

    /// A recipient who opted out (for this sender, its pool or the account) is never sent to.
    func notSuppressed(_ spec: MessageSpec, _ account: AccountCache.Entry) async throws {
        let check = SuppressionCheck(
            accountID: account.record.id, address: spec.to, sender: spec.from, pool: spec.pool)
        if try await suppressionChecks.submit(check) {
            throw Stop(outcome: .failed(error: "opted_out: the recipient has opted out; not sent", permanent: true))
        }
    }

    /// After an attempt whose outcome is unknown: what it had already sent (`reconcile`), to be
    /// adopted instead of sending again. When Twilio cannot tell, the job waits rather than risk a
    /// duplicate.
    func sentBefore<Resource: TwilioListedResource>(
        _ job: ClaimedJob, _ context: JobContext, what: String, _ reconcile: () async throws -> Resource?
    ) async throws -> Resource? {
        guard job.previousOutcomeUnknown else { return nil }
        do {
            guard let adopted = try await reconcile() else { return nil }
            context.logger.notice(
                "adopted the \(what) an interrupted attempt had sent",
                metadata: ["twilio.\(what)_sid": "\(adopted.sid)"])
            return adopted
        } catch let failure as ReconciliationFailure {
            throw Stop(outcome: .outcomeUnknown(error: failure.description))
        }
    }

    /// The lease fence: see `leaseFence(_:)`.
    func leaseHolds(_ context: JobContext) throws(Stop) {
        if let unsure = leaseFence(context) { throw Stop(outcome: unsure) }
    }

    /// A Twilio failure as the job's outcome (see `outcome(for:…)`).
    func twilioRefusal(_ error: any Error, account: AccountRecord, recipient: String, context: JobContext)
        async throws -> Stop
    {
        Stop(outcome: try await outcome(for: error, account: account, recipient: recipient, context: context))
    }
}
