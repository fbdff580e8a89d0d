import Foundation
import Postgres
import SwitchboardCore

/// What Twilio's RecordingStatusCallback said about a recording.
public struct RecordingUpdate: Sendable, Equatable {
    public var accountID: Int64
    public var sid: String
    public var callSID: String
    /// in-progress, completed, absent, failed.
    public var status: String
    public var url: String?
    public var duration: Int?
    public var channels: Int?
    public var source: String?
    public var errorCode: Int?

    public init(
        accountID: Int64, sid: String, callSID: String, status: String, url: String? = nil, duration: Int? = nil,
        channels: Int? = nil, source: String? = nil, errorCode: Int? = nil
    ) {
        self.accountID = accountID
        self.sid = sid
        self.callSID = callSID
        self.status = status
        self.url = url
        self.duration = duration
        self.channels = channels
        self.source = source
        self.errorCode = errorCode
    }

    public static let statuses: Set<String> = ["in-progress", "completed", "absent", "failed"]
}

/// A recording as kept here (`switchboard recordings list`).
public struct RecordingRecord: Sendable, Equatable, Codable {
    public var sid: String
    public var account: String
    public var callSID: String
    public var jobID: Int64?
    public var status: String
    public var duration: Int?
    public var channels: Int?
    public var mediaURL: String?
    public var createdAt: Date
    public var deletedAt: Date?
}

/// Call recordings (migration 0024): what Twilio reported, the job's result and the
/// `recording.completed` event follow in the same transaction; deletion marks the row.
public struct RecordingStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Keeps a recording's status. A completed recording's URL, duration and channels go into the
    /// result of the job that placed the call, and the event is written. Returns false when the
    /// call is not one of this account's (nothing kept).
    @discardableResult
    public func apply(_ update: RecordingUpdate) async throws -> Bool {
        try await pool.transaction { connection in
            // The call may be in the hot table only (calls are not archived).
            let call = try await connection.query(
                """
                SELECT job_id FROM switchboard.calls WHERE sid = \(update.callSID) AND account_id = \(update.accountID)
                """
            ).first
            guard let call else { return false }
            let jobID = try call.decode(Int64?.self, at: 0)
            let stored = try await connection.query(
                """
                INSERT INTO switchboard.recordings AS r (sid, account_id, call_sid, job_id, status, duration_s, channels,
                    source, media_url, error_code)
                VALUES (\(update.sid), \(update.accountID), \(update.callSID), \(jobID), \(update.status),
                    \(update.duration), \(update.channels), \(update.source), \(update.url), \(update.errorCode))
                ON CONFLICT (sid) DO UPDATE SET status = excluded.status,
                    duration_s = coalesce(excluded.duration_s, r.duration_s),
                    channels = coalesce(excluded.channels, r.channels), source = coalesce(excluded.source, r.source),
                    media_url = coalesce(excluded.media_url, r.media_url),
                    error_code = coalesce(excluded.error_code, r.error_code), updated_at = now()
                WHERE r.status NOT IN ('completed', 'deleted') AND r.account_id = excluded.account_id
                RETURNING 1
                """)
            // A repeated callback, or one for a recording already deleted here: nothing more.
            guard !stored.isEmpty, update.status != "in-progress" else { return true }
            var fields: [String: JSONValue] = [
                "recordingSid": .string(update.sid), "recordingStatus": .string(update.status),
            ]
            if let url = update.url { fields["recordingUrl"] = .string(url) }
            if let duration = update.duration { fields["recordingDuration"] = .int(Int64(duration)) }
            if let channels = update.channels { fields["recordingChannels"] = .int(Int64(channels)) }
            if let jobID { try await JobStore.mergeResult(jobID: jobID, over: .object(fields), on: connection) }
            var data = fields
            data["callSid"] = .string(update.callSID)
            if let code = update.errorCode { data["errorCode"] = .int(Int64(code)) }
            try await EventStore.emit(
                .recordingCompleted, subject: "call:\(update.callSID)", accountID: update.accountID,
                data: .object(data), jobID: jobID, on: connection)
            return true
        }
    }

    /// Recordings of one call, or the latest of all.
    public func list(callSID: String? = nil, limit: Int = 50) async throws -> [RecordingRecord] {
        try await pool.query(
            """
            SELECT r.sid, a.name, r.call_sid, r.job_id, r.status, r.duration_s, r.channels, r.media_url, r.created_at,
                   r.deleted_at
            FROM switchboard.recordings r JOIN switchboard.accounts a ON a.id = r.account_id
            WHERE (\(callSID)::text IS NULL OR r.call_sid = \(callSID))
            ORDER BY r.created_at DESC LIMIT \(limit)
            """
        ).map { row in
            RecordingRecord(
                sid: try row.decode(String.self, at: 0), account: try row.decode(String.self, at: 1),
                callSID: try row.decode(String.self, at: 2), jobID: try row.decode(Int64?.self, at: 3),
                status: try row.decode(String.self, at: 4), duration: try row.decode(Int?.self, at: 5),
                channels: try row.decode(Int?.self, at: 6), mediaURL: try row.decode(String?.self, at: 7),
                createdAt: try row.decode(Date.self, at: 8), deletedAt: try row.decode(Date?.self, at: 9))
        }
    }

    /// The account that owns a recording (for deleting it at Twilio).
    public func accountID(ofRecording sid: String) async throws -> Int64? {
        try await pool.query("SELECT account_id FROM switchboard.recordings WHERE sid = \(sid)").first?.decode(
            Int64.self, at: 0)
    }

    /// Marks a recording deleted (its audio is gone at Twilio): no URL here or in the job's
    /// result any more. Returns whether it was known and not yet deleted.
    @discardableResult
    public func markDeleted(sid: String) async throws -> Bool {
        try await pool.transaction { connection in
            guard
                let row = try await connection.query(
                    """
                    UPDATE switchboard.recordings SET status = 'deleted', media_url = NULL, deleted_at = now(),
                        updated_at = now()
                    WHERE sid = \(sid) AND status <> 'deleted'
                    RETURNING job_id
                    """
                ).first
            else { return false }
            if let jobID = try row.decode(Int64?.self, at: 0) {
                try await JobStore.mergeResult(
                    jobID: jobID,
                    over: .object([
                        "recordingUrl": .null, "recordingStatus": .string("deleted"),
                        "recordingDeletedAt": .string(ISO8601DateFormatter().string(from: Date())),
                    ]), on: connection)
            }
            return true
        }
    }
}
