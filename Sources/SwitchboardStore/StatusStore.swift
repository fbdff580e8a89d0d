import Foundation
import Postgres
import SwitchboardCore

/// A status callback from Twilio for a message or call.
public struct StatusUpdate: Sendable, Equatable {
    public enum Resource: String, Sendable, PostgresCodable {
        case message
        case call
    }

    /// The account whose auth token signed the callback: only its rows are touched.
    public var accountID: Int64
    public var sid: String
    public var status: TwilioStatus
    public var errorCode: Int?
    /// Calls: seconds, on completion.
    public var duration: Int?

    public var resource: Resource {
        switch status {
        case .message: .message
        case .call: .call
        }
    }

    public init(accountID: Int64, sid: String, status: TwilioStatus, errorCode: Int? = nil, duration: Int? = nil) {
        self.accountID = accountID
        self.sid = sid
        self.status = status
        self.errorCode = errorCode
        self.duration = duration
    }
}

/// What applying a status callback did.
public enum StatusApplication: Sendable, Equatable {
    /// The row moved forward; `final` when the status is a final one (then a NOTIFY went out).
    case applied(jobID: Int64?, final: Bool)
    /// The row is already at or past this status (callbacks arrive out of order): nothing changed.
    case stale(current: String)
    /// No such message or call yet: kept until the worker records it.
    case pending
}

/// Delivery statuses from status callbacks: rows only move forward, the job's result follows,
/// final statuses are announced with `NOTIFY switchboard_deliveries` (payload: JSON with jobId,
/// sid, status, errorCode) so producers can wait for a result.
public struct StatusStore: Sendable {
    public let pool: PostgresPool
    public static let channel = "switchboard_deliveries"
    /// How long after a final status the price is first asked for: Twilio publishes it some time
    /// after the message is sent, so asking at once would mostly find nothing.
    public static let defaultFirstPriceCheck: Duration = .seconds(10)
    public var firstPriceCheck: Duration

    public init(pool: PostgresPool, firstPriceCheck: Duration = Self.defaultFirstPriceCheck) {
        self.pool = pool
        self.firstPriceCheck = firstPriceCheck
    }

    /// Applies one callback in its own transaction.
    public func apply(_ update: StatusUpdate) async throws -> StatusApplication {
        try await pool.transaction { connection in
            if let applied = try await apply(update, on: connection) { return applied }
            // The worker's insert may be in flight, its own look at pending_statuses already taken:
            // wait for inserts into this SID's bucket to commit, then look again (0012).
            try await connection.query("SELECT switchboard.lock_status_bucket(\(update.sid))")
            if let applied = try await apply(update, on: connection) { return applied }
            // Callbacks for messages this system never records (sent by something else on the
            // account) would wait for ever: a day is plenty for a worker's insert.
            try await connection.query(
                """
                WITH expired AS (
                    DELETE FROM switchboard.pending_statuses WHERE received_at < now() - interval '1 day'
                )
                INSERT INTO switchboard.pending_statuses (resource, account_id, sid, status, error_code, duration_s)
                VALUES (\(update.resource.rawValue), \(update.accountID), \(update.sid), \(update.status.rawValue),
                    \(update.errorCode), \(update.duration))
                """)
            return .pending
        }
    }

    /// Applies callbacks that arrived before these SIDs were recorded (called right after the
    /// worker records them), oldest first.
    public func applyPending(sids: [String]) async throws {
        guard !sids.isEmpty else { return }
        try await pool.transaction { connection in
            let rows = try await connection.query(
                """
                DELETE FROM switchboard.pending_statuses WHERE sid = ANY(\(sids)::text[])
                RETURNING resource, sid, status, error_code, duration_s, id, account_id
                """)
            // Rows from before 0011 have no account (-1 matches none: they are dropped).
            let updates = try rows.compactMap { row -> (id: Int64, update: StatusUpdate)? in
                let text = try row.decode(String.self, at: 2)
                // Only known statuses are ever kept (the webhook ignores others); drop anything else.
                let status: TwilioStatus? =
                    switch try row.decode(StatusUpdate.Resource.self, at: 0) {
                    case .message: MessageStatus(rawValue: text).map(TwilioStatus.message)
                    case .call: CallStatus(rawValue: text).map(TwilioStatus.call)
                    }
                guard let status else { return nil }
                return (
                    id: try row.decode(Int64.self, at: 5),
                    update: StatusUpdate(
                        accountID: try row.decode(Int64?.self, at: 6) ?? -1, sid: try row.decode(String.self, at: 1),
                        status: status, errorCode: try row.decode(Int?.self, at: 3),
                        duration: try row.decode(Int?.self, at: 4))
                )
            }.sorted { $0.id < $1.id }
            for (_, update) in updates { _ = try await apply(update, on: connection) }
        }
    }

    /// nil when the row does not exist (in the update's account).
    func apply(_ update: StatusUpdate, on connection: PostgresConnection) async throws -> StatusApplication? {
        // A message older than the archive age is in history: looked for there second, by a
        // statement of its own, so one the archiver moved while this waited for its lock is found.
        let tables =
            update.resource == .message
            ? ["switchboard.messages", "switchboard.message_history"] : ["switchboard.calls"]
        var found: (table: String, row: PostgresRow)?
        for table in tables where found == nil {
            found = try await connection.query(
                """
                SELECT status, job_id, account_id, to_address, from_address, price IS NULL, created_at
                FROM \(unescaped: table)
                WHERE sid = \(update.sid) AND account_id = \(update.accountID)
                FOR UPDATE
                """
            ).first.map { (table, $0) }
        }
        guard let (table, row) = found else { return nil }
        let current = try row.decode(String.self, at: 0)
        let jobID = try row.decode(Int64?.self, at: 1)
        let accountID = try row.decode(Int64.self, at: 2)
        let to = try row.decode(String.self, at: 3)
        let from = try row.decode(String?.self, at: 4)
        let unpriced = try row.decode(Bool.self, at: 5)
        let createdAt = try row.decode(Date.self, at: 6)
        guard update.status.advances(from: current) else { return .stale(current: current) }
        let final = update.status.isFinal
        let status = update.status.rawValue
        switch update.resource {
        case .message:
            try await connection.query(
                """
                UPDATE \(unescaped: table) SET status = \(status), error_code = coalesce(\(update.errorCode), error_code),
                    status_at = now(), updated_at = now(),
                    sent_at = CASE WHEN \(status) = 'sent' THEN coalesce(sent_at, now()) ELSE sent_at END,
                    delivered_at = CASE WHEN \(status) IN ('delivered', 'read') THEN coalesce(delivered_at, now())
                                        ELSE delivered_at END
                WHERE sid = \(update.sid) AND account_id = \(update.accountID)
                """)
            // The recipient opted out, or the number cannot receive messages: in the same
            // transaction, so a callback applied late (pending) suppresses too.
            if let code = update.errorCode, DeliveryStatus.suppressingErrorCodes.contains(code) {
                try await connection.query(
                    DeliveryStore.suppressQuery(
                        accountID: accountID, address: to, scope: "account", scopeValue: "",
                        reason:
                            "Twilio error \(code): \(TwilioErrorClassification.summary(forCode: code) ?? status)",
                        source: "twilio_error", sourceMessageSID: update.sid))
            }
        case .call:
            try await connection.query(
                """
                UPDATE switchboard.calls SET status = \(status), error_code = coalesce(\(update.errorCode), error_code),
                    duration_s = coalesce(\(update.duration), duration_s), status_at = now(), updated_at = now()
                WHERE sid = \(update.sid)
                """)
        }
        if let jobID {
            // Keys the worker's completion does not overwrite (it merges, existing keys first).
            var fields: [String: JSONValue] = [
                update.resource == .message ? "messageStatus" : "callStatus": .string(status)
            ]
            if let code = update.errorCode { fields["errorCode"] = .int(Int64(code)) }
            if let duration = update.duration { fields["callDuration"] = .int(Int64(duration)) }
            try await JobStore.mergeResult(jobID: jobID, over: .object(fields), on: connection)
        }
        // The event (if anyone subscribed) and the announcement ride one statement: no extra
        // round trip per callback.
        var event: (type: String, data: String)?
        if let type = update.status.eventType {
            var data: [String: JSONValue] = [
                "sid": .string(update.sid), "status": .string(status), "to": .string(to),
                "from": from.map { .string($0) } ?? .null,
            ]
            if let code = update.errorCode {
                data["errorCode"] = .int(Int64(code))
                data["errorMeaning"] = TwilioErrorClassification.summary(forCode: code).map { .string($0) } ?? .null
            }
            if let duration = update.duration { data["duration"] = .int(Int64(duration)) }
            event = (type.rawValue, JSONValue.object(data).jsonText)
        }
        var announcement: String?
        if final {
            var payload: [String: JSONValue] = [
                "sid": .string(update.sid), "status": .string(status),
                "jobId": jobID.map { .int($0) } ?? .null, "resource": .string(update.resource.rawValue),
            ]
            if let code = update.errorCode { payload["errorCode"] = .int(Int64(code)) }
            announcement = JSONValue.object(payload).jsonText
        }
        // A final status is when the price is worth asking for (0027).
        let wantsPrice = final && unpriced
        if event != nil || announcement != nil || wantsPrice {
            try await connection.query(
                """
                SELECT CASE WHEN \(event?.type)::text IS NOT NULL THEN switchboard.emit_event(\(event?.type),
                           \("\(update.resource.rawValue):\(update.sid)"), \(accountID), \(event?.data)::jsonb, \(jobID)) END,
                       CASE WHEN \(announcement)::text IS NOT NULL THEN pg_notify(\(Self.channel), \(announcement)) END,
                       CASE WHEN \(wantsPrice) THEN switchboard.want_price(\(update.resource.rawValue), \(update.sid),
                           \(accountID), \(from), \(createdAt), make_interval(secs => \(firstPriceCheck.seconds))) END
                """)
        }
        return .applied(jobID: jobID, final: final)
    }
}
