import Foundation
import Postgres
import SwitchboardStore
import TestSupport
import Testing

@Suite struct MigrationTests {
    @Test func everySchemaFileIsEmbeddedInOrder() throws {
        let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Schema")
        let files = try FileManager.default.contentsOfDirectory(atPath: schema.path).filter { $0.hasSuffix(".sql") }
            .sorted()
        #expect(Migration.all.map(\.name) == files)
        #expect(Migration.all.map(\.version) == Array(1...files.count))
        for migration in Migration.all {
            let onDisk = try String(contentsOf: schema.appendingPathComponent(migration.name), encoding: .utf8)
            #expect(onDisk == migration.sql)
        }
    }

    @Test func migratingTwiceDoesNothingTheSecondTime() async throws {
        try await TestDatabase.with { db in
            // The template is migrated already.
            let appliedNow = try await Migrator(pool: db.pool).migrate()
            #expect(appliedNow.isEmpty)
            let recorded = try await Migrator(pool: db.pool).appliedMigrations()
            #expect(recorded.map(\.version) == Migration.all.map(\.version))
        }
    }

    @Test func concurrentMigratorsSerialise() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query("CREATE DATABASE \(unescaped: db.name)_fresh")
            let fresh = PostgresPool(configuration: db.configuration.withDatabase(db.name + "_fresh"))
            // Each file is applied in a transaction of its own, so the four may share the work;
            // every migration is applied by exactly one of them.
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let pool = PostgresPool(configuration: fresh.configuration)
                        let versions = try await Migrator(pool: pool).migrate().map(\.version)
                        await pool.close()
                        return versions
                    }
                }
                return try await group.reduce(into: [Int]()) { $0 += $1 }
            }
            #expect(applied.sorted() == Migration.all.map(\.version))
            #expect(
                try await fresh.query("SELECT count(*) FROM switchboard.schema_migrations").firstRow().decode(
                    Int.self, at: 0)
                    == Migration.all.count)
            await fresh.close()
            try await db.pool.query("DROP DATABASE \(unescaped: db.name)_fresh")
        }
    }

    @Test func anEditedMigrationIsRefused() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query("UPDATE switchboard.schema_migrations SET checksum = 'edited' WHERE version = 1")
            let error = await #expect(throws: Migrator.MismatchError.self) {
                try await Migrator(pool: db.pool).migrate()
            }
            #expect(error?.description.contains("0001_jobs.sql was changed") == true)
        }
    }

    @Test func aNewerDatabaseIsRefused() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query(
                "INSERT INTO switchboard.schema_migrations (version, name, checksum) VALUES (9999, 'future.sql', 'x')")
            let error = await #expect(throws: Migrator.MismatchError.self) {
                try await Migrator(pool: db.pool).migrate()
            }
            #expect(error?.description.contains("newer version") == true)
        }
    }

    @Test func aFailingMigrationLeavesNothingBehind() async throws {
        try await TestDatabase.with { db in
            let broken =
                Migration.all + [
                    Migration(
                        version: Migration.all.count + 1, name: "broken.sql",
                        sql: "CREATE TABLE switchboard.half (n int); SELECT 1/0;")
                ]
            let error = await #expect(throws: PostgresError.self) {
                try await Migrator(pool: db.pool, migrations: broken).migrate()
            }
            #expect(error?.message.contains("broken.sql") == true)
            let gone = try await db.pool.query("SELECT to_regclass('switchboard.half') IS NULL").firstRow().decode(
                Bool.self, at: 0)
            #expect(gone)
        }
    }
}
