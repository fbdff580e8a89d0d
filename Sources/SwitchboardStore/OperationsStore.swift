import Foundation
import Postgres
import SwitchboardCore

/// Readings for operators: metrics at scrape time, `switchboard status`, the dashboard. Each is
/// one read-only query served by the partial indexes on unfinished and recently finished jobs.
public struct OperationsStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    public struct QueueCount: Sendable, Equatable, Codable {
        public var queue: String
        public var kind: String
        public var state: String
        public var count: Int
        /// Available jobs only: the age of the oldest one that is due, in seconds.
        public var oldestDueAge: Double?
        /// The state held more jobs than are counted one by one: `count` is PostgreSQL's
        /// estimate for the whole state, and `queue` and `kind` are `*`.
        public var approximate = false
    }

    /// Unfinished jobs by queue, kind and state, exactly while a state holds at most `exactUpTo`
    /// jobs. Past that (a million jobs dated later, say) the state's count is the planner's
    /// estimate, so a metrics scrape or `status` never reads millions of rows.
    public func queueCounts(exactUpTo cap: Int = 100_000) async throws -> [QueueCount] {
        let states: [JobState] = [.scheduled, .available, .running]
        let sizes = try await JobStore(pool: pool).cappedCounts(states, cap: cap)
        var exact: [JobState] = []
        var counts: [QueueCount] = []
        for (state, size) in zip(states, sizes) {
            guard size > cap else {
                exact.append(state)
                continue
            }
            // The estimate is never below what was just counted.
            let estimate = try await JobStore(pool: pool).estimatedCount(state: state)
            counts.append(
                QueueCount(
                    queue: "*", kind: "*", state: state.rawValue, count: max(estimate, size), oldestDueAge: nil,
                    approximate: true))
        }
        guard !exact.isEmpty else { return counts }
        // The states under the cap, exactly, in one statement.
        counts += try await pool.query(
            """
            SELECT queue, kind, state::text, count(*)::bigint,
                   extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'available' AND run_at <= now()))::float8
            FROM switchboard.jobs WHERE state IN (\(unescaped: exact.map { "'\($0.rawValue)'" }.joined(separator: ", ")))
            GROUP BY 1, 2, 3
            """
        ).map {
            QueueCount(
                queue: try $0.decode(String.self, at: 0), kind: try $0.decode(String.self, at: 1),
                state: try $0.decode(String.self, at: 2), count: try $0.decode(Int.self, at: 3),
                oldestDueAge: try $0.decode(Double?.self, at: 4))
        }
        // In state order (scheduled, available, running), then queue and kind, as before.
        let rank = Dictionary(uniqueKeysWithValues: states.enumerated().map { ($1.rawValue, $0) })
        return counts.sorted {
            (rank[$0.state] ?? 0, $0.queue, $0.kind) < (rank[$1.state] ?? 0, $1.queue, $1.kind)
        }
    }

    /// Voice-agent sessions not yet ended.
    /// What decides whether the hot queue table stays fast: its dead tuples (rows vacuum has not
    /// reclaimed yet: every claim walks past them), and the oldest open transaction, which keeps
    /// vacuum from reclaiming anything newer. Read from PostgreSQL's statistics, no table scan.
    public struct QueueHealth: Sendable, Equatable, Codable {
        public var liveTuples: Int
        public var deadTuples: Int
        /// Seconds the oldest transaction holding back vacuum (a snapshot or a transaction id) has
        /// been open.
        public var oldestTransactionAge: Double
        /// That transaction's backend (for `pg_terminate_backend`) and application name; never
        /// its query, which may hold anything (a password, say).
        public var oldestTransactionPID: Int?
        public var oldestTransactionApplication: String?
        public var lastAutovacuum: Date?

        public init(
            liveTuples: Int, deadTuples: Int, oldestTransactionAge: Double, oldestTransactionPID: Int?,
            oldestTransactionApplication: String?, lastAutovacuum: Date?
        ) {
            self.liveTuples = liveTuples
            self.deadTuples = deadTuples
            self.oldestTransactionAge = oldestTransactionAge
            self.oldestTransactionPID = oldestTransactionPID
            self.oldestTransactionApplication = oldestTransactionApplication
            self.lastAutovacuum = lastAutovacuum
        }

        /// What an operator should hear about, if anything.
        public var warnings: [String] {
            var warnings: [String] = []
            if deadTuples > 100_000, Double(deadTuples) > 0.2 * Double(max(liveTuples, 1)) {
                warnings.append(
                    "switchboard.jobs has \(deadTuples) dead rows for \(liveTuples) live: vacuum is behind, every claim "
                        + "walks past them (see Deploy/POSTGRES.md: autovacuum settings for the queue table)")
            }
            if oldestTransactionAge > 300 {
                warnings.append(
                    "a transaction has been open for \(Int(oldestTransactionAge)) s (pid \(oldestTransactionPID ?? 0)"
                        + (oldestTransactionApplication.map { $0.isEmpty ? "" : ", \($0)" } ?? "")
                        + "): nothing newer can be vacuumed while it lasts")
            }
            return warnings
        }
    }

    public func queueHealth() async throws -> QueueHealth {
        let row = try await pool.query(
            """
            SELECT coalesce(t.n_live_tup, 0), coalesce(t.n_dead_tup, 0), t.last_autovacuum,
                   coalesce(extract(epoch FROM now() - o.xact_start)::float8, 0), o.pid::bigint, o.application_name
            FROM (SELECT 1) one
            LEFT JOIN pg_stat_user_tables t ON t.schemaname = 'switchboard' AND t.relname = 'jobs'
            LEFT JOIN LATERAL (
                SELECT pid, xact_start, application_name FROM pg_stat_activity
                WHERE (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL) AND xact_start IS NOT NULL
                  AND pid <> pg_backend_pid()
                ORDER BY xact_start LIMIT 1
            ) o ON true
            """)[0]
        return QueueHealth(
            liveTuples: try row.decode(Int.self, at: 0), deadTuples: try row.decode(Int.self, at: 1),
            oldestTransactionAge: try row.decode(Double.self, at: 3),
            oldestTransactionPID: try row.decode(Int?.self, at: 4),
            oldestTransactionApplication: try row.decode(String?.self, at: 5),
            lastAutovacuum: try row.decode(Date?.self, at: 2))
    }

    public func activeVoiceSessions() async throws -> Int {
        try await pool.query("SELECT count(*)::bigint FROM switchboard.voice_sessions WHERE status <> 'ended'")[0]
            .decode(Int.self, at: 0)
    }
}

extension OperationsStore {
    public struct FinishedCount: Sendable, Equatable, Codable {
        public var kind: String
        public var state: String
        public var count: Int
    }

    /// Jobs finished in the last `window` (throughput), by kind and final state.
    public func finished(within window: Duration = .seconds(60)) async throws -> [FinishedCount] {
        try await pool.query(
            """
            SELECT kind, state::text, count(*)::bigint FROM switchboard.all_jobs
            WHERE state IN ('completed', 'failed', 'cancelled')
              AND finished_at > now() - make_interval(secs => \(window.seconds))
            GROUP BY 1, 2 ORDER BY 1, 2
            """
        ).map {
            FinishedCount(
                kind: try $0.decode(String.self, at: 0), state: try $0.decode(String.self, at: 1),
                count: try $0.decode(Int.self, at: 2))
        }
    }

    public struct SenderLoad: Sendable, Equatable, Codable {
        public var account: String
        public var address: String
        public var rate: Double
        /// Segments that may be booked at once ahead of the rate.
        public var burst: Double
        /// How far ahead its rate limit is booked, in seconds (0 when idle).
        public var bookedAhead: Double
        /// Messages sent from it in the last minute, and that as a share of its limit.
        public var sentLastMinute: Int
        public var utilisation: Double
        public var enabled: Bool
    }

    /// Every sender's load against its limit.
    public func senderLoad() async throws -> [SenderLoad] {
        try await pool.query(
            """
            WITH recent AS (
                SELECT account_id, from_address, count(*) AS sent FROM switchboard.messages
                WHERE created_at > now() - interval '1 minute' GROUP BY 1, 2
            )
            SELECT a.name, s.address, s.rate, extract(epoch FROM greatest(s.tat, now()) - now())::float8,
                   coalesce(r.sent, 0)::bigint, s.enabled, s.burst
            FROM switchboard.senders s JOIN switchboard.accounts a ON a.id = s.account_id
            LEFT JOIN recent r ON r.account_id = s.account_id AND r.from_address = s.address
            ORDER BY a.name, s.address
            """
        ).map {
            let rate = try $0.decode(Double.self, at: 2)
            let sent = try $0.decode(Int.self, at: 4)
            return SenderLoad(
                account: try $0.decode(String.self, at: 0), address: try $0.decode(String.self, at: 1), rate: rate,
                burst: try $0.decode(Double.self, at: 6), bookedAhead: try $0.decode(Double.self, at: 3),
                sentLastMinute: sent,
                utilisation: Double(sent) / (rate * 60), enabled: try $0.decode(Bool.self, at: 5))
        }
    }

    public struct ErrorCount: Sendable, Equatable, Codable {
        /// `send`: Twilio refused the request; `delivery`: a status callback reported it.
        public var stage: String
        public var code: Int
        public var count: Int
    }

    /// Twilio error codes of the last `window`: refused sends (from the jobs' error history) and
    /// failed deliveries (from status callbacks), most frequent first.
    public func errorCodes(within window: Duration = .seconds(3600)) async throws -> [ErrorCount] {
        try await pool.query(
            """
            SELECT stage, code, count(*)::bigint FROM (
                SELECT 'send' AS stage, substring(e->>'error' FROM 'twilio ([0-9]+)')::int AS code
                FROM (
                    SELECT errors FROM switchboard.all_jobs WHERE state IN ('completed', 'failed', 'cancelled')
                      AND errors <> '[]'::jsonb AND finished_at > now() - make_interval(secs => \(window.seconds))
                    UNION ALL
                    SELECT errors FROM switchboard.jobs
                    WHERE state IN ('scheduled', 'available', 'running') AND errors <> '[]'
                ) j, jsonb_array_elements(j.errors) e
                WHERE (e->>'at')::timestamptz > now() - make_interval(secs => \(window.seconds))
                UNION ALL
                SELECT 'delivery', error_code FROM switchboard.messages
                WHERE error_code IS NOT NULL AND updated_at > now() - make_interval(secs => \(window.seconds))
                UNION ALL
                SELECT 'delivery', error_code FROM switchboard.calls
                WHERE error_code IS NOT NULL AND updated_at > now() - make_interval(secs => \(window.seconds))
            ) e WHERE code IS NOT NULL
            GROUP BY 1, 2 ORDER BY 3 DESC, 2 LIMIT 20
            """
        ).map {
            ErrorCount(
                stage: try $0.decode(String.self, at: 0), code: try $0.decode(Int.self, at: 1),
                count: try $0.decode(Int.self, at: 2))
        }
    }
}
