import Foundation
import Postgres
import SwitchboardCore

/// A subscription to events (`switchboard events list`): never its secret.
public struct EventSubscription: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable, PostgresCodable {
        case active
        case paused
    }

    public var id: Int64
    public var url: String
    public var eventTypes: [String]
    /// Only this account's events; nil: every account's.
    public var account: String?
    public var description: String
    public var state: State
    public var pausedReason: String?
    /// Deliveries have failed since then (nil: the last one succeeded).
    public var failingSince: Date?
    /// The previous secret still signs until then (after a rotation).
    public var previousSecretUntil: Date?
    /// Deliveries waiting (queued, retrying, or held while paused) and given up on.
    public var pending: Int
    public var failed: Int
    public var createdAt: Date
}

/// One event on its way to one subscription (`switchboard events deliveries`).
public struct EventDeliveryRecord: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable, PostgresCodable {
        case pending
        case delivered
        case failed
    }

    public var id: Int64
    public var subscriptionID: Int64
    /// evt_…: what the receiver sees as `webhook-id`.
    public var eventID: String
    public var type: String
    public var subject: String
    public var state: State
    public var attempts: Int
    public var lastAttemptAt: Date?
    public var lastStatusCode: Int?
    public var lastError: String?
    public var deliveredAt: Date?
    /// When the next attempt is due (pending deliveries with a queued job).
    public var nextAttemptAt: Date?
    public var createdAt: Date
}

/// One attempt of a delivery.
public struct EventAttemptRecord: Sendable, Equatable, Codable {
    public var attempt: Int
    public var at: Date
    public var statusCode: Int?
    public var error: String?
    public var latencyMs: Int
    public var response: String?
}

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

/// Event subscriptions, the outbox and its deliveries (migration 0023). Events are written by
/// `switchboard.emit_event()` in the transaction of their cause (see the other stores); this
/// store manages subscriptions and carries out what the delivery handler decides.
public struct EventStore: Sendable {
    public let pool: PostgresPool
    /// Needed to seal and open signing secrets; listing works without it.
    public let vault: CredentialVault?

    public init(pool: PostgresPool, vault: CredentialVault?) {
        self.pool = pool
        self.vault = vault
    }

    /// The queued job kind that delivers one event to one subscription.
    public static let deliverKind = "event.deliver"
    /// Retries are the handler's (snoozes); this bounds attempts lost to crashes.
    static let jobAttempts = 50

    static func secretContext(_ id: Int64) -> String { "event-subscription:\(id)" }

    private func requireVault() throws -> CredentialVault {
        guard let vault else {
            throw CredentialVault.Failure(
                description: "no master key: set SWITCHBOARD_MASTER_KEY (signing secrets are sealed with it)")
        }
        return vault
    }

    /// Writes an event in the caller's transaction (nothing when nobody subscribes to it). With a
    /// job, the payload also carries the job's id and its result as it is now.
    public static func emit(
        _ type: EventType, subject: String, accountID: Int64?, data: JSONValue, jobID: Int64? = nil,
        on connection: PostgresConnection
    ) async throws {
        try await connection.query(
            """
            SELECT switchboard.emit_event(\(type.rawValue), \(subject), \(accountID), \(data.jsonText)::jsonb, \(jobID))
            """)
    }

    // MARK: subscriptions

    /// Adds a subscription; `secret` is its signing secret (whsec_…, already checked). Errors name
    /// the field. Returns its id.
    public func subscribe(
        url: String, eventTypes: [String], account: String?, description: String = "", secret: String
    ) async throws -> Int64 {
        try Self.check(url: url, description: description)
        let types = try EventType.parseList(eventTypes.joined(separator: ","))
        let vault = try requireVault()
        return try await pool.transaction { connection in
            var accountID: Int64?
            if let account {
                guard
                    let row = try await connection.query(
                        "SELECT id FROM switchboard.accounts WHERE name = \(account)"
                    ).first
                else { throw InputError(field: "account", problem: "no account named '\(account.prefix(64))'") }
                accountID = try row.decode(Int64.self, at: 0)
            }
            let id = try await connection.query(
                "SELECT nextval(pg_get_serial_sequence('switchboard.event_subscriptions', 'id'))"
            )[0].decode(Int64.self, at: 0)
            let (keyID, sealed) = try vault.seal(secret, boundTo: Self.secretContext(id))
            try await connection.query(
                """
                INSERT INTO switchboard.event_subscriptions (id, url, event_types, account_id, description,
                    secret_sealed, key_id)
                VALUES (\(id), \(url), \(types)::text[], \(accountID), \(description), \(sealed), \(keyID))
                """)
            return id
        }
    }

    /// Checks a subscription's URL and description; errors name `urlField` (the CLI's `--url`).
    public static func check(url: String, description: String, urlField: String = "url") throws(InputError) {
        guard url.utf8.count <= 2048, HTTPURL.isHTTP(url), !url.contains(where: \.isWhitespace) else {
            throw InputError(field: urlField, problem: "must be an http(s) URL with a host, at most 2048 bytes")
        }
        guard description.count <= 200 else {
            throw InputError(field: "description", problem: "must be at most 200 characters")
        }
    }

    public func subscriptions() async throws -> [EventSubscription] {
        try await pool.query(
            """
            SELECT s.id, s.url, s.event_types, a.name, s.description, s.state, s.paused_reason, s.failing_since,
                   CASE WHEN s.previous_until > now() THEN s.previous_until END, s.created_at,
                   (SELECT count(*) FROM switchboard.event_deliveries d WHERE d.subscription_id = s.id AND d.state = 'pending')::int,
                   (SELECT count(*) FROM switchboard.event_deliveries d WHERE d.subscription_id = s.id AND d.state = 'failed')::int
            FROM switchboard.event_subscriptions s LEFT JOIN switchboard.accounts a ON a.id = s.account_id
            ORDER BY s.id
            """
        ).map { row in
            EventSubscription(
                id: try row.decode(Int64.self, at: 0), url: try row.decode(String.self, at: 1),
                eventTypes: try row.decode([String].self, at: 2), account: try row.decode(String?.self, at: 3),
                description: try row.decode(String.self, at: 4),
                state: try row.decode(EventSubscription.State.self, at: 5),
                pausedReason: try row.decode(String?.self, at: 6), failingSince: try row.decode(Date?.self, at: 7),
                previousSecretUntil: try row.decode(Date?.self, at: 8), pending: try row.decode(Int.self, at: 10),
                failed: try row.decode(Int.self, at: 11),
                createdAt: try row.decode(Date.self, at: 9))
        }
    }

    /// Changes where a subscription delivers, what it asks for or its description (nil: kept);
    /// pending deliveries go to the new URL. Returns whether it exists.
    public func update(id: Int64, url: String? = nil, eventTypes: [String]? = nil, description: String? = nil)
        async throws -> Bool
    {
        try Self.check(url: url ?? "http://unchanged", description: description ?? "")
        let types = try eventTypes.map { try EventType.parseList($0.joined(separator: ",")) }
        return try await pool.query(
            """
            UPDATE switchboard.event_subscriptions SET url = coalesce(\(url), url),
                event_types = coalesce(\(types)::text[], event_types), description = coalesce(\(description), description),
                updated_at = now()
            WHERE id = \(id)
            """
        ).affectedRows == 1
    }

    /// Pauses a subscription: its events are kept as pending deliveries. Returns whether it exists.
    @discardableResult
    public func pause(id: Int64, reason: String = "paused by an operator") async throws -> Bool {
        try await pool.query(
            """
            UPDATE switchboard.event_subscriptions SET state = 'paused', paused_reason = \(reason), updated_at = now()
            WHERE id = \(id)
            """
        ).affectedRows == 1
    }

    /// Resumes a subscription and queues every delivery that waited; returns how many (nil: no
    /// such subscription).
    public func resume(id: Int64) async throws -> Int? {
        try await pool.transaction { connection in
            guard
                try await connection.query(
                    """
                    UPDATE switchboard.event_subscriptions SET state = 'active', paused_reason = NULL,
                        failing_since = NULL, updated_at = now()
                    WHERE id = \(id)
                    """
                ).affectedRows == 1
            else { return nil }
            return try await Self.queueWaiting(subscriptionID: id, on: connection)
        }
    }

    /// Gives a job to every pending delivery of the subscription that has none running or waiting,
    /// in event order.
    static func queueWaiting(subscriptionID: Int64, on connection: PostgresConnection) async throws -> Int {
        try await connection.query(
            """
            WITH waiting AS (
                SELECT d.id FROM switchboard.event_deliveries d
                WHERE d.subscription_id = \(subscriptionID) AND d.state = 'pending'
                  AND NOT EXISTS (SELECT 1 FROM switchboard.jobs j
                                  WHERE j.id = d.job_id AND j.state IN ('scheduled', 'available', 'running'))
                ORDER BY d.event_id
            ), queued AS (
                INSERT INTO switchboard.jobs (kind, payload, max_attempts)
                SELECT \(deliverKind), jsonb_build_object('deliveryId', id), \(jobAttempts) FROM waiting
                RETURNING id, (payload ->> 'deliveryId')::bigint AS delivery
            )
            UPDATE switchboard.event_deliveries d SET job_id = queued.id, schedule_from = d.attempts
            FROM queued WHERE d.id = queued.delivery
            """
        ).affectedRows
    }

    /// Deletes a subscription, its deliveries and their queued jobs. Returns whether it existed.
    @discardableResult
    public func delete(id: Int64) async throws -> Bool {
        try await pool.transaction { connection in
            try await connection.query(
                """
                UPDATE switchboard.jobs SET state = 'cancelled', finished_at = now(),
                    errors = errors || jsonb_build_array(jsonb_build_object('at', now(), 'kind', 'cancelled',
                        'error', 'its event subscription was deleted'))
                WHERE id IN (SELECT job_id FROM switchboard.event_deliveries
                             WHERE subscription_id = \(id) AND state = 'pending' AND job_id IS NOT NULL)
                  AND state IN ('scheduled', 'available')
                """)
            return try await connection.query("DELETE FROM switchboard.event_subscriptions WHERE id = \(id)")
                .affectedRows == 1
        }
    }

    /// Replaces the signing secret; the old one keeps signing beside it for `overlap` so receivers
    /// can switch without refusing anything. Returns whether the subscription exists.
    public func rotateSecret(id: Int64, secret: String, overlap: Duration) async throws -> Bool {
        let vault = try requireVault()
        let (keyID, sealed) = try vault.seal(secret, boundTo: Self.secretContext(id))
        return try await pool.query(
            """
            UPDATE switchboard.event_subscriptions SET
                previous_secret_sealed = secret_sealed, previous_key_id = key_id,
                previous_until = now() + \(overlap.seconds) * interval '1 second',
                secret_sealed = \(sealed), key_id = \(keyID), updated_at = now()
            WHERE id = \(id)
            """
        ).affectedRows == 1
    }

    /// Re-seals every signing secret not sealed with the vault's current key
    /// (`switchboard accounts rotate-key`). Returns how many secrets changed.
    public func resealAll() async throws -> Int {
        let vault = try requireVault()
        let rows = try await pool.query(
            """
            SELECT id, secret_sealed, key_id, previous_secret_sealed, previous_key_id FROM switchboard.event_subscriptions
            WHERE key_id <> \(vault.currentKeyID) OR previous_key_id <> \(vault.currentKeyID)
            """)
        var changed = 0
        for row in rows {
            let id = try row.decode(Int64.self, at: 0)
            let context = Self.secretContext(id)
            let owner = "event subscription \(id)"
            func resealed(_ sealed: Data?, _ keyID: String?) throws -> (keyID: String?, sealed: Data?) {
                guard let sealed, let keyID else { return (nil, nil) }
                guard keyID != vault.currentKeyID else { return (keyID, sealed) }
                changed += 1
                let secret = try vault.open(sealed, keyID: keyID, boundTo: context, owner: owner)
                let new = try vault.seal(secret, boundTo: context)
                return (new.keyID, new.sealed)
            }
            let current = try resealed(try row.decode(Data.self, at: 1), try row.decode(String.self, at: 2))
            let previous = try resealed(try row.decode(Data?.self, at: 3), try row.decode(String?.self, at: 4))
            try await pool.query(
                """
                UPDATE switchboard.event_subscriptions SET secret_sealed = \(current.sealed), key_id = \(current.keyID),
                    previous_secret_sealed = \(previous.sealed), previous_key_id = \(previous.keyID)
                WHERE id = \(id)
                """)
        }
        return changed
    }

    // MARK: deliveries

    /// The newest deliveries, of one subscription or all, optionally in one state.
    public func deliveries(
        subscriptionID: Int64? = nil, state: EventDeliveryRecord.State? = nil, limit: Int = 50
    ) async throws -> [EventDeliveryRecord] {
        try await pool.query(
            """
            SELECT d.id, d.subscription_id, 'evt_' || replace(e.uid::text, '-', ''), e.type, d.subject, d.state,
                   d.attempts, d.last_attempt_at, d.last_status_code, d.last_error, d.delivered_at,
                   CASE WHEN d.state = 'pending' AND j.state IN ('scheduled', 'available') THEN j.run_at END,
                   d.created_at
            FROM switchboard.event_deliveries d
            JOIN switchboard.events e ON e.id = d.event_id
            LEFT JOIN switchboard.jobs j ON j.id = d.job_id
            WHERE (\(subscriptionID)::bigint IS NULL OR d.subscription_id = \(subscriptionID))
              AND (\(state?.rawValue)::text IS NULL OR d.state = \(state?.rawValue))
            ORDER BY d.id DESC LIMIT \(limit)
            """
        ).map { row in
            EventDeliveryRecord(
                id: try row.decode(Int64.self, at: 0), subscriptionID: try row.decode(Int64.self, at: 1),
                eventID: try row.decode(String.self, at: 2), type: try row.decode(String.self, at: 3),
                subject: try row.decode(String.self, at: 4),
                state: try row.decode(EventDeliveryRecord.State.self, at: 5),
                attempts: try row.decode(Int.self, at: 6), lastAttemptAt: try row.decode(Date?.self, at: 7),
                lastStatusCode: try row.decode(Int?.self, at: 8), lastError: try row.decode(String?.self, at: 9),
                deliveredAt: try row.decode(Date?.self, at: 10), nextAttemptAt: try row.decode(Date?.self, at: 11),
                createdAt: try row.decode(Date.self, at: 12))
        }
    }

    /// Every attempt of one delivery, first first.
    public func attempts(deliveryID: Int64) async throws -> [EventAttemptRecord] {
        try await pool.query(
            """
            SELECT attempt, at, status_code, error, latency_ms, response FROM switchboard.event_attempts
            WHERE delivery_id = \(deliveryID) ORDER BY attempt
            """
        ).map { row in
            EventAttemptRecord(
                attempt: try row.decode(Int.self, at: 0), at: try row.decode(Date.self, at: 1),
                statusCode: try row.decode(Int?.self, at: 2), error: try row.decode(String?.self, at: 3),
                latencyMs: try row.decode(Int.self, at: 4), response: try row.decode(String?.self, at: 5))
        }
    }

    /// Sends failed deliveries again, with a fresh retry schedule: the ones given, or all of a
    /// subscription's. Returns how many were queued.
    public func redeliver(deliveryIDs: [Int64]? = nil, subscriptionID: Int64? = nil) async throws -> Int {
        try await pool.transaction { connection in
            let subscriptions = try await connection.query(
                """
                UPDATE switchboard.event_deliveries SET state = 'pending', job_id = NULL
                WHERE state = 'failed'
                  AND (\(deliveryIDs)::bigint[] IS NULL OR id = ANY (\(deliveryIDs)::bigint[]))
                  AND (\(subscriptionID)::bigint IS NULL OR subscription_id = \(subscriptionID))
                RETURNING subscription_id
                """
            ).map { try $0.decode(Int64.self, at: 0) }
            var queued = 0
            for subscription in Set(subscriptions).sorted() {
                queued += try await Self.queueWaiting(subscriptionID: subscription, on: connection)
            }
            return queued
        }
    }

    // MARK: the delivery handler's side

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
    public struct AttemptRecord: Sendable {
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
        try await record([AttemptRecord(report, deliveryID: deliveryID, jobID: jobID)])[0]
    }

    /// Records attempts and their consequences in one statement — one round trip and one commit
    /// for a batch, since a commit waits for the WAL flush and a busy subscription delivers
    /// hundreds of events a second: each delivery's state and attempt, its subscription paused
    /// (410) or marked failing (only when that changes, so deliveries do not queue on its row),
    /// and the next event of the same subject brought forward once one is settled. When a success
    /// ends a failing spell, the subscription's waiting retries are brought forward too. Returns,
    /// per attempt, whether it was recorded (false: the job no longer holds the delivery).
    public func record(_ attempts: [AttemptRecord]) async throws -> [Bool] {
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

    /// Deletes events older than `retention` that nothing waits to deliver (their deliveries and
    /// attempts go with them), at most `limit`. Returns how many.
    public func prune(olderThan retention: Duration, limit: Int = 10_000) async throws -> Int {
        try await pool.query(
            """
            DELETE FROM switchboard.events WHERE id IN (
                SELECT e.id FROM switchboard.events e
                WHERE e.created_at < now() - \(retention.seconds) * interval '1 second'
                  AND NOT EXISTS (SELECT 1 FROM switchboard.event_deliveries d
                                  WHERE d.event_id = e.id AND d.state = 'pending')
                ORDER BY e.created_at LIMIT \(limit))
            """
        ).affectedRows
    }
}
