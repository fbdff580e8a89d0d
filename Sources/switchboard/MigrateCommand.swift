import ArgumentParser
import Postgres
import SwitchboardStore

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or upgrade the database schema (safe to run from several hosts at once).",
        discussion: "Example: DATABASE_URL=postgres://app@db:5432/switchboard switchboard migrate")

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Only list applied and pending migrations.")
    var status = false

    func run() async throws {
        try await database.withPool { pool in try await migrate(pool) }
    }

    private func migrate(_ pool: PostgresPool) async throws {
        let migrator = Migrator(pool: pool)
        if status {
            let applied = Set(try await migrator.appliedMigrations().map(\.version))
            for migration in Migration.all {
                print("\(applied.contains(migration.version) ? "applied" : "pending")  \(migration.name)")
            }
            return
        }
        let done = try await migrator.migrate()
        if done.isEmpty {
            print("schema is up to date (\(Migration.all.count) migrations)")
        } else {
            for migration in done { print("applied \(migration.name)") }
        }
    }
}
