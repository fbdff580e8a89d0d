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

    func requireVault() throws -> CredentialVault {
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
}
