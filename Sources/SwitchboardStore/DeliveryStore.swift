import Foundation
import Postgres
import SwitchboardCore

/// A message Twilio accepted, to record.
public struct MessageRow: Sendable {
    public var sid: String
    public var jobID: Int64?
    public var accountID: Int64
    public var channel: String
    public var to: String
    public var from: String?
    public var messagingServiceSID: String?
    public var body: String?
    public var segments: Int?
    public var status: String
    public var origin: String
    /// The campaign the message was sent for (reports read a campaign's messages by it).
    public var campaignID: Int64?

    public init(
        sid: String, jobID: Int64?, accountID: Int64, channel: String, to: String, from: String?,
        messagingServiceSID: String?, body: String?, segments: Int?, status: String, origin: String = "created",
        campaignID: Int64? = nil
    ) {
        self.campaignID = campaignID
        self.sid = sid
        self.jobID = jobID
        self.accountID = accountID
        self.channel = channel
        self.to = to
        self.from = from
        self.messagingServiceSID = messagingServiceSID
        self.body = body
        self.segments = segments
        self.status = status
        self.origin = origin
    }
}

/// Sent messages and calls, and the suppression list.
public struct DeliveryStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Records a message; recording the same SID twice keeps the first row.
    public func record(_ message: MessageRow) async throws {
        try await record([message])
    }

    public func recordCall(
        sid: String, jobID: Int64?, accountID: Int64, to: String, from: String, status: String, origin: String
    )
        async throws
    {
        let pending = try await pool.query(
            """
            WITH inserted AS (
                INSERT INTO switchboard.calls (sid, job_id, account_id, to_address, from_address, status, origin)
                VALUES (\(sid), \(jobID), \(accountID), \(to), \(from), \(status), \(origin))
                ON CONFLICT (sid) DO NOTHING
                RETURNING sid
            )
            \(unescaped: Self.pendingCheck)
            """
        )[0].decode(Bool.self, at: 0)
        if pending { try await StatusStore(pool: pool).applyPending(sids: [sid]) }
    }

    /// Which of these SIDs are already recorded, and for which job: reconciliation must not adopt
    /// another job's message, and must recognise its own job's (recorded, but the job's completion
    /// was lost, e.g. to a database restart).
    /// (A row without a job reads as job 0.)
    public func recordedJobs(_ sids: [String]) async throws -> [String: Int64] {
        guard !sids.isEmpty else { return [:] }
        let rows = try await pool.query(
            """
            SELECT sid, coalesce(job_id, 0) FROM switchboard.all_messages WHERE sid = ANY(\(sids)::text[])
            UNION ALL SELECT sid, coalesce(job_id, 0) FROM switchboard.calls WHERE sid = ANY(\(sids)::text[])
            """)
        return Dictionary(
            try rows.map { (try $0.decode(String.self, at: 0), try $0.decode(Int64.self, at: 1)) },
            uniquingKeysWith: { first, _ in first })
    }

    public func messages(jobID: Int64) async throws -> [(sid: String, status: String, origin: String)] {
        try await pool.query(
            "SELECT sid, status, origin FROM switchboard.all_messages WHERE job_id = \(jobID) ORDER BY id"
        )
        .map {
            (
                try $0.decode(String.self, at: 0), try $0.decode(String.self, at: 1),
                try $0.decode(String.self, at: 2)
            )
        }
    }

    /// Records many messages in one statement (one commit); SIDs already recorded are kept.
    public func record(_ messages: [MessageRow]) async throws {
        guard !messages.isEmpty else { return }
        let pending = try await pool.query(Self.recordQuery(messages))[0].decode(Bool.self, at: 0)
        if pending { try await StatusStore(pool: pool).applyPending(sids: messages.map(\.sid)) }
    }

    /// Inserts the messages and answers whether a status callback is waiting for one of them
    /// (then `StatusStore.applyPending` must follow once this has committed).
    public static func recordQuery(_ messages: [MessageRow]) -> PostgresQuery {
        """
        WITH inserted AS (
            INSERT INTO switchboard.messages (sid, job_id, account_id, channel, to_address, from_address,
                messaging_service_sid, body, segments, status, origin, campaign_id)
            SELECT * FROM unnest(\(messages.map(\.sid))::text[], \(messages.map { Nullable($0.jobID) })::bigint[],
            \(messages.map(\.accountID))::bigint[], \(messages.map(\.channel))::text[], \(messages.map(\.to))::text[],
            \(messages.map { Nullable($0.from) })::text[], \(messages.map { Nullable($0.messagingServiceSID) })::text[],
            \(messages.map { Nullable($0.body) })::text[], \(messages.map { Nullable($0.segments) })::int[],
            \(messages.map(\.status))::text[], \(messages.map(\.origin))::text[],
            \(messages.map { Nullable($0.campaignID) })::bigint[])
            ON CONFLICT (sid) DO NOTHING
            RETURNING sid
        )
        \(unescaped: Self.pendingCheck)
        """
    }

    /// Follows an `inserted` CTE returning the recorded SIDs: is a status callback that outran the
    /// insert waiting for one of them? (Checked in the insert's statement; applied only when so.)
    /// The function holds the SIDs' status buckets until the insert commits and looks with a snapshot
    /// taken once it holds them, so a callback filed meanwhile is seen here or finds the row (0012).
    static let pendingCheck = """
        SELECT switchboard.statuses_waiting_for(ARRAY(SELECT sid FROM inserted))
        """

    // MARK: suppressions

    /// For many (account, address, sender, pool) checks at once: which are suppressed (account-wide,
    /// for that sender, or for that pool).
    public func suppressed(_ checks: [(accountID: Int64, address: String, sender: String?, pool: String?)]) async throws
        -> [Bool]
    {
        guard !checks.isEmpty else { return [] }
        let rows = try await pool.query(
            """
            SELECT c.n, EXISTS (SELECT 1 FROM switchboard.suppressions s
                WHERE s.account_id = c.account_id AND s.address = c.address
                  AND (s.scope = 'account' OR (s.scope = 'sender' AND s.scope_value = c.sender)
                       OR (s.scope = 'pool' AND s.scope_value = c.pool)))
            FROM unnest(\(checks.map(\.accountID))::bigint[], \(checks.map(\.address))::text[],
                        \(checks.map { $0.sender ?? "" })::text[], \(checks.map { $0.pool ?? "" })::text[])
                 WITH ORDINALITY AS c(account_id, address, sender, pool, n)
            ORDER BY c.n
            """)
        return try rows.map { try $0.decode(Bool.self, at: 1) }
    }

    /// Whether `address` must not be messaged by this account (from `sender` or in `pool`).
    public func isSuppressed(accountID: Int64, address: String, sender: String?, pool poolName: String?) async throws
        -> Bool
    {
        try await pool.query(
            """
            SELECT EXISTS (SELECT 1 FROM switchboard.suppressions
                WHERE account_id = \(accountID) AND address = \(address)
                  AND (scope = 'account' OR (scope = 'sender' AND scope_value = \(sender ?? ""))
                       OR (scope = 'pool' AND scope_value = \(poolName ?? ""))))
            """
        )[0].decode(Bool.self, at: 0)
    }

    /// The recipient opted back in (START, or through the API): removes the suppression in that
    /// scope (and an account-wide one) and records the opt-in. Returns how many were removed.
    @discardableResult
    public func unsuppress(
        accountID: Int64, address: String, scope: String = "account", scopeValue: String = "", source: String = "api",
        sourceMessageSID: String? = nil
    ) async throws -> Int {
        try await pool.query(
            Self.unsuppressQuery(
                accountID: accountID, address: address, scope: scope, scopeValue: scopeValue, source: source,
                sourceMessageSID: sourceMessageSID)
        )[0].decode(Int.self, at: 0)
    }

    /// Removes the suppression in that scope (and an account-wide one), records the opt-in, and
    /// returns how many were removed.
    static func unsuppressQuery(
        accountID: Int64, address: String, scope: String, scopeValue: String, source: String, sourceMessageSID: String?
    ) -> PostgresQuery {
        """
        WITH removed AS (
            DELETE FROM switchboard.suppressions WHERE account_id = \(accountID) AND address = \(address)
              AND (scope = 'account' OR (scope = \(scope) AND scope_value = \(scopeValue)))
            RETURNING 1
        ), recorded AS (
            INSERT INTO switchboard.consent_events (account_id, address, event, scope, scope_value, source, source_message_sid)
            VALUES (\(accountID), \(address), 'opt_in', \(scope), \(scopeValue), \(source), \(sourceMessageSID))
        )
        SELECT count(*) FROM removed
        """
    }

    /// Every opt-out and opt-in of an address, oldest first.
    public func consentHistory(accountID: Int64, address: String) async throws -> [(
        event: String, source: String, at: Date
    )] {
        try await pool.query(
            """
            SELECT event, source, created_at FROM switchboard.consent_events
            WHERE account_id = \(accountID) AND address = \(address) ORDER BY id
            """
        ).map {
            (try $0.decode(String.self, at: 0), try $0.decode(String.self, at: 1), try $0.decode(Date.self, at: 2))
        }
    }

    public func suppress(
        accountID: Int64, address: String, scope: String = "account", scopeValue: String = "", reason: String,
        source: String,
        sourceMessageSID: String? = nil
    ) async throws {
        try await pool.query(
            Self.suppressQuery(
                accountID: accountID, address: address, scope: scope, scopeValue: scopeValue, reason: reason,
                source: source, sourceMessageSID: sourceMessageSID))
    }

    /// Adds a suppression (if not there) and records the opt-out in the consent history.
    static func suppressQuery(
        accountID: Int64, address: String, scope: String, scopeValue: String, reason: String, source: String,
        sourceMessageSID: String?
    ) -> PostgresQuery {
        """
        WITH suppressed AS (
            INSERT INTO switchboard.suppressions (account_id, address, scope, scope_value, reason, source, source_message_sid)
            VALUES (\(accountID), \(address), \(scope), \(scopeValue), \(reason), \(source), \(sourceMessageSID))
            ON CONFLICT (account_id, address, scope, scope_value) DO NOTHING
        )
        INSERT INTO switchboard.consent_events (account_id, address, event, scope, scope_value, source, reason, source_message_sid)
        VALUES (\(accountID), \(address), 'opt_out', \(scope), \(scopeValue), \(source), \(reason), \(sourceMessageSID))
        """
    }
}
