import Foundation
import Postgres
import SwitchboardCore

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

/// Deliveries and their attempts as operators see them, sending failed ones again, and pruning.
extension EventStore {

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
