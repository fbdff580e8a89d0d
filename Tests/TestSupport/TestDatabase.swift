import EmbeddedPostgres
import Foundation
import Postgres
// `eventually` comes with every test that imports TestSupport.
@_exported import ServiceTask
import SwitchboardStore
import Synchronization

/// The PostgreSQL server for this test run: `DATABASE_URL` when set, otherwise a throwaway
/// cluster started once per test process (a watchdog stops it when the process exits). Tests
/// that need the database fail when neither works; they never skip.
public actor TestServer {
    public static let shared = TestServer()
    private var starting: Task<PostgresConfiguration, any Error>?
    private var server: EmbeddedPostgres?

    public func configuration() async throws -> PostgresConfiguration {
        if let starting { return try await starting.value }
        let task = Task<PostgresConfiguration, any Error> {
            if let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty {
                return try PostgresConfiguration(url)
            }
            let server = try await EmbeddedPostgres.start()
            self.keep(server)
            return try PostgresConfiguration(server.url)
        }
        starting = task
        return try await task.value
    }

    private func keep(_ server: EmbeddedPostgres) { self.server = server }
}

/// A database of its own for one test, created from a migrated template so tests run in
/// parallel without seeing each other's rows.
public struct TestDatabase: Sendable {
    public let name: String
    public let configuration: PostgresConfiguration
    public let pool: PostgresPool
    public var store: JobStore { JobStore(pool: pool) }

    /// The integer in the first column of the first row, e.g. a `count(*)`.
    public func integer(_ query: PostgresQuery) async throws -> Int {
        try await pool.query(query).firstRow().decode(Int.self, at: 0)
    }

    /// Waits until a connection to this database has run `LISTEN` on `channel` (the last statement
    /// of a listener's backend stays that LISTEN while it waits), instead of sleeping and hoping.
    public func listening(on channel: String, timeout: Duration = .seconds(10)) async -> Bool {
        await backend(state: "idle", query: "LISTEN \"\(channel)\"", timeout: timeout)
    }

    /// Waits until a backend of this database is running `statement` (its exact text), e.g. a
    /// `SELECT pg_sleep(…)` a test holds a connection or a lock with.
    public func running(_ statement: String, timeout: Duration = .seconds(10)) async -> Bool {
        await backend(state: "active", query: statement, timeout: timeout)
    }

    /// Whether a backend of this database shows `query` as its statement in `state`, within `timeout`.
    private func backend(state: String, query: String, timeout: Duration) async -> Bool {
        await eventually(timeout: timeout) {
            try await integer(
                """
                SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND state = \(state) AND query = \(query)
                """) > 0
        }
    }

    /// Number of jobs, optionally in one state.
    public func jobCount(state: String? = nil) async throws -> Int {
        guard let state else { return try await integer("SELECT count(*) FROM switchboard.all_jobs") }
        return try await integer(
            "SELECT count(*) FROM switchboard.all_jobs WHERE state = \(state)::switchboard.job_state")
    }

    /// Runs `body` with a fresh migrated database and drops it afterwards.
    /// It holds `TestGate` shared meanwhile, so a `RunsAlone` test does not run beside it.
    public static func with<T: Sendable>(
        poolSize: Int = 10, _ body: (TestDatabase) async throws -> T
    ) async throws -> T {
        try await TestGate.holdingShared { try await fresh(poolSize: poolSize, body) }
    }

    private static func fresh<T: Sendable>(
        poolSize: Int, _ body: (TestDatabase) async throws -> T
    ) async throws -> T {
        let name = try await Template.shared.createDatabase()
        let configuration = try await TestServer.shared.configuration().withDatabase(name)
        let pool = PostgresPool(configuration: configuration, options: .init(maxConnections: poolSize))
        let database = TestDatabase(name: name, configuration: configuration, pool: pool)
        do {
            let value = try await body(database)
            await database.drop()
            return value
        } catch {
            await database.drop()
            throw error
        }
    }

    func drop() async {
        await pool.close()
        guard let server = try? await TestServer.shared.configuration() else { return }
        await ScratchDatabase.drop(name, on: server)
    }
}

/// Migrates one template database per test process; `CREATE DATABASE … TEMPLATE` copies it.
actor Template {
    static let shared = Template()
    private var templateTask: Task<String, any Error>?
    private var counter = 0
    private let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)

    func createDatabase() async throws -> String {
        let template = try await ensureTemplate()
        counter += 1
        let name = "sbtest_\(runID)_\(counter)"
        try await ScratchDatabase.create(name, on: try await TestServer.shared.configuration(), template: template)
        return name
    }

    private func ensureTemplate() async throws -> String {
        if let templateTask { return try await templateTask.value }
        let name = "sbtemplate_\(runID)"
        // One task does the work; tests arriving meanwhile wait for the same task.
        let task = Task {
            try await ScratchDatabase.create(name, on: try await TestServer.shared.configuration())
            return name
        }
        templateTask = task
        return try await task.value
    }
}

extension PostgresRows {
    /// The first row, or an error saying there is none: a test that indexed `[0]` would crash the
    /// whole test process instead of failing on its own.
    public func firstRow() throws -> PostgresRow {
        guard let row = first else { throw PostgresError(.decoding, message: "the query returned no rows") }
        return row
    }
}
