import Postgres

/// A numbered, forward-only schema change. The SQL is embedded in the binary from `Schema/`.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// Stable checksum of the SQL (FNV-1a 64) so an edited, already-applied migration is detected.
    public var checksum: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }

    /// Every migration, in order. A test checks that this list matches the files in `Schema/`.
    public static let all: [Migration] = [
        Migration(
            version: 1, name: "0001_jobs.sql", sql: String(decoding: PackageResources._001_jobs_sql, as: UTF8.self)),
        Migration(
            version: 2, name: "0002_sending.sql",
            sql: String(decoding: PackageResources._002_sending_sql, as: UTF8.self)),
        Migration(
            version: 3, name: "0003_senders.sql",
            sql: String(decoding: PackageResources._003_senders_sql, as: UTF8.self)),
        Migration(
            version: 4, name: "0004_campaigns.sql",
            sql: String(decoding: PackageResources._004_campaigns_sql, as: UTF8.self)),
        Migration(
            version: 5, name: "0005_consent.sql",
            sql: String(decoding: PackageResources._005_consent_sql, as: UTF8.self)),
        Migration(
            version: 6, name: "0006_pool_balance.sql",
            sql: String(decoding: PackageResources._006_pool_balance_sql, as: UTF8.self)),
        Migration(
            version: 7, name: "0007_webhooks.sql",
            sql: String(decoding: PackageResources._007_webhooks_sql, as: UTF8.self)),
        Migration(
            version: 8, name: "0008_voice_sessions.sql",
            sql: String(decoding: PackageResources._008_voice_sessions_sql, as: UTF8.self)),
        Migration(
            version: 9, name: "0009_operations.sql",
            sql: String(decoding: PackageResources._009_operations_sql, as: UTF8.self)),
        Migration(
            version: 10, name: "0010_queue_samples.sql",
            sql: String(decoding: PackageResources._010_queue_samples_sql, as: UTF8.self)),
        Migration(
            version: 11, name: "0011_hardening.sql",
            sql: String(decoding: PackageResources._011_hardening_sql, as: UTF8.self)),
        Migration(
            version: 12, name: "0012_status_meeting.sql",
            sql: String(decoding: PackageResources._012_status_meeting_sql, as: UTF8.self)),
        Migration(
            version: 13, name: "0013_relay_handoff.sql",
            sql: String(decoding: PackageResources._013_relay_handoff_sql, as: UTF8.self)),
        Migration(
            version: 14, name: "0014_relay_timings.sql",
            sql: String(decoding: PackageResources._014_relay_timings_sql, as: UTF8.self)),
        Migration(
            version: 15, name: "0015_scheduled_state.sql",
            sql: String(decoding: PackageResources._015_scheduled_state_sql, as: UTF8.self)),
        Migration(
            version: 16, name: "0016_claim_path.sql",
            sql: String(decoding: PackageResources._016_claim_path_sql, as: UTF8.self)),
        Migration(
            version: 17, name: "0017_campaign_feed.sql",
            sql: String(decoding: PackageResources._017_campaign_feed_sql, as: UTF8.self)),
        Migration(
            version: 18, name: "0018_job_history.sql",
            sql: String(decoding: PackageResources._018_job_history_sql, as: UTF8.self)),
        Migration(
            version: 19, name: "0019_message_history.sql",
            sql: String(decoding: PackageResources._019_message_history_sql, as: UTF8.self)),
        Migration(
            version: 20, name: "0020_carrier_pacing.sql",
            sql: String(decoding: PackageResources._020_carrier_pacing_sql, as: UTF8.self)),
        Migration(
            version: 21, name: "0021_import_order.sql",
            sql: String(decoding: PackageResources._021_import_order_sql, as: UTF8.self)),
        Migration(
            version: 22, name: "0022_recipient_payload_json.sql",
            sql: String(decoding: PackageResources._022_recipient_payload_json_sql, as: UTF8.self)),
        Migration(
            version: 23, name: "0023_event_webhooks.sql",
            sql: String(decoding: PackageResources._023_event_webhooks_sql, as: UTF8.self)),
        Migration(
            version: 24, name: "0024_recordings.sql",
            sql: String(decoding: PackageResources._024_recordings_sql, as: UTF8.self)),
        Migration(
            version: 25, name: "0025_inbound_agents.sql",
            sql: String(decoding: PackageResources._025_inbound_agents_sql, as: UTF8.self)),
        Migration(
            version: 26, name: "0026_event_delivery_index.sql",
            sql: String(decoding: PackageResources._026_event_delivery_index_sql, as: UTF8.self)),
        Migration(
            version: 27, name: "0027_prices.sql",
            sql: String(decoding: PackageResources._027_prices_sql, as: UTF8.self)),
        Migration(
            version: 28, name: "0028_campaign_reports.sql",
            sql: String(decoding: PackageResources._028_campaign_reports_sql, as: UTF8.self)),
        Migration(
            version: 29, name: "0029_tracked_links.sql",
            sql: String(decoding: PackageResources._029_tracked_links_sql, as: UTF8.self)),
    ]
}

/// Applies pending migrations.
public struct Migrator: Sendable {
    public struct AppliedMigration: Sendable, Equatable {
        public var version: Int
        public var name: String
    }

    /// An applied migration whose SQL differs from the one in this binary, or a database newer
    /// than this binary.
    public struct MismatchError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Any fixed number works as long as every Switchboard process uses the same one.
    static let advisoryLockKey: Int64 = 0x5357_4254_4d49_4752  // "SWBTMIGR"

    let pool: PostgresPool
    let migrations: [Migration]

    public init(pool: PostgresPool, migrations: [Migration] = Migration.all) {
        self.pool = pool
        self.migrations = migrations
    }

    /// Applies every pending migration, each in a transaction of its own (all of a file or none of
    /// it) holding an advisory lock, so hosts migrating at the same time serialise and the second
    /// one finds nothing to do. One transaction per file, not one for all: a value added to an
    /// enum (0015) can be used only after the transaction that added it commits. A failed file
    /// leaves the ones before it applied and recorded. Returns the migrations this call applied.
    @discardableResult
    public func migrate() async throws -> [AppliedMigration] {
        var done: [AppliedMigration] = []
        while let applied = try await applyNext() { done.append(applied) }
        return done
    }

    /// Applies the first pending migration, if any, in one transaction.
    private func applyNext() async throws -> AppliedMigration? {
        let migrations = self.migrations
        return try await pool.transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.advisoryLockKey))")
            try await connection.execute(
                script: """
                    CREATE SCHEMA IF NOT EXISTS switchboard;
                    CREATE TABLE IF NOT EXISTS switchboard.schema_migrations (
                        version    integer PRIMARY KEY,
                        name       text NOT NULL,
                        checksum   text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    );
                    """)
            let applied = try await Self.appliedVersions(connection)
            try Self.verify(applied: applied, against: migrations)
            guard let migration = migrations.first(where: { applied[$0.version] == nil }) else { return nil }
            do {
                try await connection.execute(script: migration.sql)
            } catch var error as PostgresError {
                error.message = "migration \(migration.name) failed: \(error.message)"
                throw error
            }
            try await connection.query(
                """
                INSERT INTO switchboard.schema_migrations (version, name, checksum)
                VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                """)
            return AppliedMigration(version: migration.version, name: migration.name)
        }
    }

    /// The schema is not migrated to this binary's version.
    public struct NotMigratedError: Error, CustomStringConvertible {
        public var pending: [String]
        public var description: String {
            "the database schema is not up to date (pending: \(pending.joined(separator: ", "))): run `switchboard migrate` first"
        }
    }

    /// Throws unless every migration of this binary is applied (and none was edited): processes
    /// call this at start-up so they fail with a clear message instead of SQL errors later.
    public func requireUpToDate() async throws {
        let migrations = self.migrations
        try await pool.withConnection { connection in
            let exists = try await connection.query("SELECT to_regclass('switchboard.schema_migrations') IS NOT NULL")
            guard try exists[0].decode(Bool.self, at: 0) else {
                throw NotMigratedError(pending: migrations.map(\.name))
            }
            let applied = try await Self.appliedVersions(connection)
            try Self.verify(applied: applied, against: migrations)
            let pending = migrations.filter { applied[$0.version] == nil }
            if !pending.isEmpty { throw NotMigratedError(pending: pending.map(\.name)) }
        }
    }

    /// Versions recorded as applied (empty if the database was never migrated).
    public func appliedMigrations() async throws -> [AppliedMigration] {
        try await pool.withConnection { connection in
            let exists = try await connection.query("SELECT to_regclass('switchboard.schema_migrations') IS NOT NULL")
            guard try exists[0].decode(Bool.self, at: 0) else { return [] }
            return try await connection.query(
                "SELECT version, name FROM switchboard.schema_migrations ORDER BY version"
            )
            .map { AppliedMigration(version: try $0.decode(Int.self, at: 0), name: try $0.decode(String.self, at: 1)) }
        }
    }

    private static func appliedVersions(_ connection: PostgresConnection) async throws -> [Int: String] {
        var applied: [Int: String] = [:]
        for row in try await connection.query("SELECT version, checksum FROM switchboard.schema_migrations") {
            applied[try row.decode(Int.self, at: 0)] = try row.decode(String.self, at: 1)
        }
        return applied
    }

    private static func verify(applied: [Int: String], against migrations: [Migration]) throws {
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for (version, checksum) in applied.sorted(by: { $0.key < $1.key }) {
            guard let migration = known[version] else {
                throw MismatchError(
                    description: "the database has migration \(version), which this switchboard binary does not know: "
                        + "it was migrated by a newer version; upgrade this binary")
            }
            guard migration.checksum == checksum else {
                throw MismatchError(
                    description: "migration \(migration.name) was changed after it was applied (checksum "
                        + "\(checksum) in the database, \(migration.checksum) in this binary); migrations are forward-only"
                )
            }
        }
    }
}
