import Foundation
import Postgres
import SwitchboardCore

/// A message someone sent to one of our numbers (Twilio's inbound-message webhook).
public struct InboundMessage: Sendable, Equatable {
    public var sid: String
    public var accountID: Int64
    public var from: String
    public var to: String
    public var body: String
    public var mediaURLs: [String]
    public var messagingServiceSID: String?

    public init(
        sid: String, accountID: Int64, from: String, to: String, body: String, mediaURLs: [String] = [],
        messagingServiceSID: String? = nil
    ) {
        self.sid = sid
        self.accountID = accountID
        self.from = from
        self.to = to
        self.body = body
        self.mediaURLs = mediaURLs
        self.messagingServiceSID = messagingServiceSID
    }
}

/// What recording an inbound message did.
public struct InboundOutcome: Sendable, Equatable {
    /// STOP / START / HELP, or nil for an ordinary message.
    public var intent: OptOutKeywords.Intent?
    /// Twilio sent this message before (a retry): nothing was changed again.
    public var duplicate: Bool
    /// Scopes opted out or back in: ("sender", number) and ("pool", name) for each pool of it.
    public var scopes: [Scope]
    /// The outbound message this one replies to, and its job.
    public var replyTo: String?
    public var jobID: Int64?

    public struct Scope: Sendable, Equatable {
        public var scope: String
        public var value: String
    }
}

/// Inbound messages: opt-out and opt-in keywords update the suppression list (and the consent
/// history), other messages are bound to the latest outbound message they answer and become that
/// job's `smsReply`, announced with `NOTIFY switchboard_replies` (payload: JSON with jobId and
/// sid). One transaction per message, and a repeated message changes nothing twice.
public struct InboundStore: Sendable {
    public let pool: PostgresPool
    public static let channel = "switchboard_replies"

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func record(_ message: InboundMessage, replyWindow: Duration) async throws -> InboundOutcome {
        let intent = OptOutKeywords.intent(of: message.body)
        return try await pool.transaction { connection in
            let inserted = try await connection.query(
                """
                INSERT INTO switchboard.inbound_messages (sid, account_id, from_address, to_address, body, media_urls,
                    intent)
                VALUES (\(message.sid), \(message.accountID), \(message.from), \(message.to), \(message.body),
                    \(message.mediaURLs)::text[], \(intent?.rawValue))
                ON CONFLICT (sid) DO NOTHING
                RETURNING id
                """)
            var outcome = InboundOutcome(intent: intent, duplicate: inserted.isEmpty, scopes: [])
            guard !outcome.duplicate else { return outcome }
            switch intent {
            case .optOut?, .optIn?:
                outcome.scopes = try await scopes(of: message, on: connection)
                for scope in outcome.scopes {
                    let query =
                        intent == .optOut
                        ? DeliveryStore.suppressQuery(
                            accountID: message.accountID, address: message.from, scope: scope.scope,
                            scopeValue: scope.value,
                            reason:
                                "replied \(message.body.trimmingCharacters(in: .whitespacesAndNewlines).uppercased())",
                            source: "keyword", sourceMessageSID: message.sid)
                        : DeliveryStore.unsuppressQuery(
                            accountID: message.accountID, address: message.from, scope: scope.scope,
                            scopeValue: scope.value, source: "keyword", sourceMessageSID: message.sid)
                    try await connection.query(query)
                }
                try await attribute(message, window: replyWindow, on: connection)
            case .help?:
                break
            case nil:
                try await bind(message, window: replyWindow, outcome: &outcome, on: connection)
                try await emitReply(message, outcome: outcome, on: connection)
            }
            return outcome
        }
    }

    /// `reply.received`, ordered per conversation (our number and theirs).
    private func emitReply(_ message: InboundMessage, outcome: InboundOutcome, on connection: PostgresConnection)
        async throws
    {
        let data: JSONValue = .object([
            "sid": .string(message.sid), "from": .string(message.from), "to": .string(message.to),
            "body": .string(message.body), "mediaUrls": .array(message.mediaURLs.map { .string($0) }),
            "replyTo": outcome.replyTo.map { .string($0) } ?? .null,
        ])
        try await EventStore.emit(
            .replyReceived, subject: "conversation:\(message.to):\(message.from)", accountID: message.accountID,
            data: data, jobID: outcome.jobID, on: connection)
    }

    /// Twilio scopes a keyword to the number it was sent to, or to the whole Messaging Service
    /// that number belongs to: here, the number and every pool it is in.
    private func scopes(of message: InboundMessage, on connection: PostgresConnection) async throws
        -> [InboundOutcome.Scope]
    {
        let pools = try await connection.query(
            """
            SELECT DISTINCT p.name FROM switchboard.pools p
            JOIN switchboard.pool_senders ps ON ps.pool_id = p.id
            JOIN switchboard.senders s ON s.id = ps.sender_id
            WHERE s.account_id = \(message.accountID) AND s.address = \(message.to)
            ORDER BY 1
            """)
        return [InboundOutcome.Scope(scope: "sender", value: message.to)]
            + (try pools.map { InboundOutcome.Scope(scope: "pool", value: try $0.decode(String.self, at: 0)) })
    }

    /// An opt-out keyword counts against the campaign of the latest message it answers (a
    /// campaign report's "opted out during the campaign"); it is not a reply.
    private func attribute(_ message: InboundMessage, window: Duration, on connection: PostgresConnection)
        async throws
    {
        guard let latest = try await latestAnswered(by: message, window: window, on: connection) else { return }
        try await connection.query(
            """
            UPDATE switchboard.inbound_messages SET campaign_id = \(try latest.decode(Int64?.self, at: 2))
            WHERE sid = \(message.sid)
            """)
    }

    /// The latest message to this person from the number they wrote to (or its pool) within the
    /// window: its SID, job and campaign.
    private func latestAnswered(by message: InboundMessage, window: Duration, on connection: PostgresConnection)
        async throws -> PostgresRow?
    {
        try await connection.query(
            """
            SELECT sid, job_id, campaign_id FROM switchboard.messages
            WHERE account_id = \(message.accountID) AND to_address = \(message.from)
              AND (from_address = \(message.to)
                   OR (\(message.messagingServiceSID)::text IS NOT NULL
                       AND messaging_service_sid = \(message.messagingServiceSID)))
              AND created_at > now() - \(window.seconds) * interval '1 second'
            ORDER BY created_at DESC, id DESC
            LIMIT 1
            """
        ).first
    }

    private func bind(
        _ message: InboundMessage, window: Duration, outcome: inout InboundOutcome, on connection: PostgresConnection
    ) async throws {
        guard let latest = try await latestAnswered(by: message, window: window, on: connection) else { return }
        outcome.replyTo = try latest.decode(String.self, at: 0)
        outcome.jobID = try latest.decode(Int64?.self, at: 1)
        try await connection.query(
            """
            UPDATE switchboard.inbound_messages SET reply_to_sid = \(outcome.replyTo), job_id = \(outcome.jobID),
                campaign_id = \(try latest.decode(Int64?.self, at: 2))
            WHERE sid = \(message.sid)
            """)
        guard let jobID = outcome.jobID else { return }
        let fields: JSONValue = .object([
            "smsReply": .string(message.body), "smsReplySid": .string(message.sid),
            "smsReplyMediaUrls": .array(message.mediaURLs.map { .string($0) }),
        ])
        try await JobStore.mergeResult(jobID: jobID, over: fields, on: connection)
        let payload: JSONValue = .object([
            "jobId": .int(jobID), "sid": .string(message.sid), "replyTo": .string(outcome.replyTo ?? ""),
        ])
        try await connection.query("SELECT pg_notify(\(Self.channel), \(payload.jsonText))")
    }
}
