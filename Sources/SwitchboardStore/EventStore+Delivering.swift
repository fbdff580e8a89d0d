import Foundation
import Postgres
import SwitchboardCore

/// What an `event.deliver` job finds when it looks at its delivery.
public enum EventDeliveryWork: Sendable, Equatable {
    /// Nothing to do: delivered, failed for good, deleted with its subscription, or handed to a
    /// newer job.
    case settled
    /// The subscription is paused: the delivery waits (without a job) for `events resume`.
    case paused
    /// An earlier event of the same subject is not delivered yet: wait about this long.
    case waitingForEarlier(Duration)
    case ready(Ready)

    public struct Ready: Sendable, Equatable {
        public var deliveryID: Int64
        public var subscriptionID: Int64
        public var url: String
        /// evt_…
        public var eventID: String
        /// The JSON body: {id, type, createdAt, subject, data}; the same on every attempt.
        public var body: String
        /// Attempts made before this one since the delivery was last queued (the retry schedule's
        /// position).
        public var attempts: Int
        /// The secrets to sign with: the current one, and the previous one during a rotation.
        public var secrets: [String]

        public init(
            deliveryID: Int64, subscriptionID: Int64, url: String, eventID: String, body: String, attempts: Int,
            secrets: [String]
        ) {
            self.deliveryID = deliveryID
            self.subscriptionID = subscriptionID
            self.url = url
            self.eventID = eventID
            self.body = body
            self.attempts = attempts
            self.secrets = secrets
        }
    }
}

/// How an attempt went, as the delivery handler reports it.
public struct EventAttemptReport: Sendable, Equatable {
    public enum Verdict: Sendable, Equatable {
        /// 2xx.
        case delivered
        /// Anything else: tried again later, or failed for good when `final`.
        case failed(final: Bool)
        /// 410 Gone: the subscription is paused, the delivery waits for `events resume`.
        case gone
    }

    public var verdict: Verdict
    public var statusCode: Int?
    public var error: String?
    public var latency: Duration
    public var response: String?

    public init(verdict: Verdict, statusCode: Int?, error: String?, latency: Duration, response: String?) {
        self.verdict = verdict
        self.statusCode = statusCode
        self.error = error
        self.latency = latency
        self.response = response
    }
}

/// The delivery handler's side: what a job should do, and recording what its attempt came to.
extension EventStore {

    /// What the job `jobID` should do about delivery `deliveryID`.
    public func work(deliveryID: Int64, jobID: Int64) async throws -> EventDeliveryWork {
        guard
            let row = try await pool.query(
                """
                SELECT d.state, d.job_id, s.state, s.url, s.secret_sealed, s.key_id,
                       CASE WHEN s.previous_until > now() THEN s.previous_secret_sealed END, s.previous_key_id,
                       'evt_' || replace(e.uid::text, '-', ''),
                       jsonb_build_object(
                           'id', 'evt_' || replace(e.uid::text, '-', ''), 'type', e.type,
                           'createdAt', to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                           'subject', e.subject, 'data', e.data)::text,
                       d.attempts - d.schedule_from, d.subscription_id, earlier.found,
                       extract(epoch FROM earlier.run_at - now())::float8
                FROM switchboard.event_deliveries d
                JOIN switchboard.event_subscriptions s ON s.id = d.subscription_id
                JOIN switchboard.events e ON e.id = d.event_id
                LEFT JOIN LATERAL (
                    SELECT true AS found, j.run_at FROM switchboard.event_deliveries p
                    LEFT JOIN switchboard.jobs j ON j.id = p.job_id AND j.state IN ('scheduled', 'available')
                    WHERE p.subscription_id = d.subscription_id AND p.subject = d.subject
                      AND p.event_id < d.event_id AND p.state = 'pending'
                    ORDER BY p.event_id LIMIT 1
                ) earlier ON true
                WHERE d.id = \(deliveryID)
                """
            ).first
        else { return .settled }
        guard try row.decode(EventDeliveryRecord.State.self, at: 0) == .pending,
            try row.decode(Int64?.self, at: 1) == jobID
        else { return .settled }
        guard try row.decode(EventSubscription.State.self, at: 2) == .active else {
            try await pool.query(
                "UPDATE switchboard.event_deliveries SET job_id = NULL WHERE id = \(deliveryID) AND job_id = \(jobID)")
            return .paused
        }
        if try row.decode(Bool?.self, at: 12) == true {
            let runsIn = try row.decode(Double?.self, at: 13) ?? 0
            return .waitingForEarlier(.seconds(min(max(runsIn, 1), 3600)))
        }
        let vault = try requireVault()
        let subscriptionID = try row.decode(Int64.self, at: 11)
        let context = Self.secretContext(subscriptionID)
        let owner = "event subscription \(subscriptionID)"
        var secrets = [
            try vault.open(
                try row.decode(Data.self, at: 4), keyID: try row.decode(String.self, at: 5), boundTo: context,
                owner: owner)
        ]
        if let previous = try row.decode(Data?.self, at: 6), let keyID = try row.decode(String?.self, at: 7) {
            secrets.append(try vault.open(previous, keyID: keyID, boundTo: context, owner: owner))
        }
        return .ready(
            EventDeliveryWork.Ready(
                deliveryID: deliveryID, subscriptionID: subscriptionID, url: try row.decode(String.self, at: 3),
                eventID: try row.decode(String.self, at: 8), body: try row.decode(String.self, at: 9),
                attempts: try row.decode(Int.self, at: 10), secrets: secrets))
    }

    /// One attempt to record: what came of it, for which delivery, by which job.
    public struct Attempt: Sendable {
        public var report: EventAttemptReport
        public var deliveryID: Int64
        public var jobID: Int64

        public init(_ report: EventAttemptReport, deliveryID: Int64, jobID: Int64) {
            self.report = report
            self.deliveryID = deliveryID
            self.jobID = jobID
        }
    }

    /// Records one attempt (see `record(_:)` for a batch). Returns false when the job no longer
    /// holds the delivery (nothing recorded).
    @discardableResult
    public func record(_ report: EventAttemptReport, deliveryID: Int64, jobID: Int64) async throws -> Bool {
        try await record([Attempt(report, deliveryID: deliveryID, jobID: jobID)])[0]
    }

    /// Records attempts and their consequences in one statement — one round trip and one commit
    /// for a batch, since a commit waits for the WAL flush and a busy subscription delivers
    /// hundreds of events a second: each delivery's state and attempt, its subscription paused
    /// (410) or marked failing (only when that changes, so deliveries do not queue on its row),
    /// and the next event of the same subject brought forward once one is settled. When a success
    /// ends a failing spell, the subscription's waiting retries are brought forward too. Returns,
    /// per attempt, whether it was recorded (false: the job no longer holds the delivery).
    public func record(_ attempts: [Attempt]) async throws -> [Bool] {
        guard !attempts.isEmpty else { return [] }
        func verdict(_ report: EventAttemptReport) -> String {
            switch report.verdict {
            case .delivered: "delivered"
            case .failed: "failed"
            case .gone: "gone"
            }
        }
        func state(_ report: EventAttemptReport) -> String {
            switch report.verdict {
            case .delivered: "delivered"
            case .failed(let final): final ? "failed" : "pending"
            case .gone: "pending"
            }
        }
        let ids = attempts.map(\.deliveryID)
        let jobs = attempts.map(\.jobID)
        let states = attempts.map { state($0.report) }
        let verdicts = attempts.map { verdict($0.report) }
        let codes = attempts.map { Nullable($0.report.statusCode) }
        let errors = attempts.map { Nullable($0.report.error) }
        let latencies = attempts.map { Int(min(max($0.report.latency.seconds * 1000, 0), Double(Int32.max))) }
        let responses = attempts.map { Nullable($0.report.response.map { String($0.prefix(256)) }) }
        let row = try await pool.query(
            """
            WITH input AS (
                SELECT * FROM unnest(\(ids)::bigint[], \(jobs)::bigint[], \(states)::text[], \(verdicts)::text[],
                                     \(codes)::int[], \(errors)::text[], \(latencies)::int[], \(responses)::text[])
                    AS u(id, job_id, state, verdict, status_code, error, latency_ms, response)
            ), d AS (
                UPDATE switchboard.event_deliveries e SET attempts = e.attempts + 1, last_attempt_at = now(),
                    last_status_code = i.status_code, last_error = i.error, state = i.state,
                    delivered_at = CASE WHEN i.state = 'delivered' THEN now() END,
                    job_id = CASE WHEN i.verdict = 'gone' THEN NULL ELSE e.job_id END
                FROM input i
                WHERE e.id = i.id AND e.job_id = i.job_id AND e.state = 'pending'
                RETURNING e.id, e.attempts, e.subscription_id, e.subject, e.event_id, i.state, i.verdict, i.status_code,
                    i.error, i.latency_ms, i.response
            ), attempt AS (
                INSERT INTO switchboard.event_attempts (delivery_id, attempt, status_code, error, latency_ms, response)
                SELECT id, attempts, status_code, error, latency_ms, response FROM d
            ), verdicts AS (
                SELECT subscription_id, bool_or(verdict = 'gone') AS gone, bool_or(verdict = 'delivered') AS delivered,
                       bool_or(verdict = 'failed') AS failed
                FROM d GROUP BY subscription_id
            ), subscription AS (
                UPDATE switchboard.event_subscriptions s SET
                    failing_since = CASE WHEN v.delivered THEN NULL
                        WHEN v.failed THEN coalesce(s.failing_since, now()) ELSE s.failing_since END,
                    state = CASE WHEN v.gone THEN 'paused' ELSE s.state END,
                    paused_reason = CASE WHEN v.gone
                        THEN 'the receiver answered 410 Gone at '
                            || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')
                        ELSE s.paused_reason END,
                    updated_at = now()
                FROM verdicts v
                WHERE s.id = v.subscription_id
                  AND (v.gone OR (v.delivered AND s.failing_since IS NOT NULL)
                       OR (v.failed AND NOT v.delivered AND s.failing_since IS NULL))
                RETURNING s.id, v.delivered AND NOT v.gone AS recovered
            ), next AS (
                UPDATE switchboard.jobs j SET run_at = now(), state = 'available'
                FROM d CROSS JOIN LATERAL (
                    SELECT p.job_id FROM switchboard.event_deliveries p
                    WHERE p.subscription_id = d.subscription_id AND p.subject = d.subject AND p.state = 'pending'
                      AND p.event_id > d.event_id
                    ORDER BY p.event_id LIMIT 1) n
                WHERE d.state <> 'pending' AND j.id = n.job_id AND j.state IN ('scheduled', 'available')
                  AND j.run_at > now()
            )
            SELECT coalesce((SELECT array_agg(id) FROM d), '{}'),
                   coalesce((SELECT array_agg(id) FROM subscription WHERE recovered), '{}')
            """
        )[0]
        let recorded = Set(try row.decode([Int64].self, at: 0))
        let recovered = try row.decode([Int64].self, at: 1)
        if !recovered.isEmpty {
            try await pool.withConnection { connection in
                for subscription in recovered {
                    try await Self.bringForward(subscriptionID: subscription, on: connection)
                }
            }
        }
        return attempts.map { recorded.contains($0.deliveryID) }
    }

    /// Every waiting delivery of the subscription runs now (the receiver is back).
    static func bringForward(subscriptionID: Int64, on connection: PostgresConnection) async throws {
        let moved = try await connection.query(
            """
            UPDATE switchboard.jobs j SET run_at = now(), state = 'available'
            FROM switchboard.event_deliveries d
            WHERE d.subscription_id = \(subscriptionID) AND d.state = 'pending' AND j.id = d.job_id
              AND j.state IN ('scheduled', 'available') AND j.run_at > now()
            """
        ).affectedRows
        if moved > 0 { try await connection.query("SELECT pg_notify('switchboard_jobs', 'default')") }
    }
}
