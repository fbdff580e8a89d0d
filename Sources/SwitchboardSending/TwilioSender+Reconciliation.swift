import Foundation
import Logging
import Metrics
import SwitchboardCore
import SwitchboardStore
import SwitchboardWorker
import Twilio

/// Before a send: has an interrupted earlier attempt already reached Twilio (reconciliation), and
/// will this one end while the job's lease holds (the lease fence)? Both keep a job from being
/// sent twice.
extension TwilioSender {
    /// After an attempt with an unknown outcome: did Twilio accept that message? A message to
    /// the same recipient from the same sender with the same body (see `reconcile`).
    func reconcileMessage(_ job: ClaimedJob, _ spec: MessageSpec, _ account: AccountCache.Entry) async throws
        -> TwilioMessage?
    {
        let bodies = Set([spec.body, spec.body.map(SmartEncoding.apply)].compactMap { $0 })
        return try await reconcile(
            job, what: "message",
            // No DateSent filter: a message still queued at Twilio has no date_sent yet.
            list: {
                try await client.listMessages(
                    to: spec.to, from: spec.from, dateSent: nil, credentials: account.credentials)
            },
            matches: { spec.body == nil || bodies.contains($0.body ?? "") },
            record: { try await deliveries.record(row($0, spec, account.record.id, job.id, origin: "reconciled")) })
    }

    /// Like `reconcileMessage`, for calls: a call to the same number from the same caller ID.
    func reconcileCall(_ job: ClaimedJob, to: String, from: String, _ account: AccountCache.Entry) async throws
        -> TwilioCall?
    {
        try await reconcile(
            job, what: "call",
            list: { try await client.listCalls(to: to, from: from, credentials: account.credentials) },
            record: { adopted in
                try await deliveries.recordCall(
                    sid: adopted.sid, jobID: job.id, accountID: account.record.id, to: to, from: from,
                    status: adopted.status, origin: "reconciled")
            })
    }

    /// The one reconciler for messages and calls. Among what `list` returns that `matches` and
    /// was created since the job was (less five minutes for clock differences): one this job
    /// recorded is returned as it is (an earlier attempt sent it and its completion was lost);
    /// otherwise the latest one no job recorded is adopted (`record`) and returned; nil means
    /// Twilio has none, so sending is safe.
    private func reconcile<Resource: TwilioListedResource>(
        _ job: ClaimedJob, what: String, list: () async throws -> [Resource],
        matches: (Resource) -> Bool = { _ in true }, record: (Resource) async throws -> Void
    ) async throws -> Resource? {
        let candidates: [Resource]
        do {
            candidates = try await list()
        } catch {
            // Without an answer we cannot tell; try again later rather than risk a duplicate.
            throw ReconciliationFailure(description: "could not check Twilio for an earlier \(what): \(error)")
        }
        let since = job.createdAt.addingTimeInterval(-300)
        let recent = candidates.filter {
            matches($0) && ($0.dateCreated.flatMap(TwilioDate.parse) ?? .distantPast) >= since
        }
        let recorded = try await deliveries.recordedJobs(recent.map(\.sid))
        if let earlier = recent.last(where: { recorded[$0.sid] == job.id }) { return earlier }
        guard let adopted = recent.last(where: { recorded[$0.sid] == nil }) else { return nil }
        try await record(adopted)
        return adopted
    }

    /// The fence that keeps a worker that lost touch with the database from sending a job that
    /// was meanwhile rescued and sent by another: a request starts only if it ends (answer or
    /// timeout) before the lease can expire and the job be rescued. Otherwise nothing is sent and
    /// the job waits a moment, its attempt given back; if the lease was lost, that write is refused
    /// (it is guarded by the lease's holder) and the new holder decides.
    func leaseFence(_ context: JobContext) -> JobOutcome? {
        guard !context.leaseOutlasts(client.configuration.timeout) else { return nil }
        Counter(label: MetricNames.sendsFenced).increment()
        context.logger.warning(
            "lease may expire before a Twilio request would end (no heartbeat got through); not sending now",
            metadata: ["twilio.timeout": "\(client.configuration.timeout)"])
        return .snoozed(delay: .seconds(1))
    }

    struct ReconciliationFailure: Error, CustomStringConvertible {
        var description: String
    }
}

/// A message or call as Twilio lists it: what reconciliation compares.
protocol TwilioListedResource {
    var sid: String { get }
    var dateCreated: String? { get }
}

extension TwilioMessage: TwilioListedResource {}
extension TwilioCall: TwilioListedResource {}
