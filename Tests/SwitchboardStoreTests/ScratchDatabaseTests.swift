import Postgres
import SwitchboardStore
import TestSupport
import Testing

@Suite struct ScratchDatabaseTests {
    @Test func aScratchDatabaseIsMigratedCopiedAndDropped() async throws {
        let server = try await TestServer.shared.configuration()
        let name = "sbscratch_\(UInt32.random(in: 0...UInt32.max))"
        try await ScratchDatabase.create(name, on: server)
        try await ScratchDatabase.create(name + "_copy", on: server, template: name)
        for database in [name, name + "_copy"] {
            let pool = PostgresPool(configuration: server.withDatabase(database))
            let version = try await pool.query("SELECT max(version) FROM switchboard.schema_migrations").firstRow()
            #expect(try version.decode(Int.self, at: 0) == Migration.all.last?.version)
            await pool.close()
        }
        await ScratchDatabase.drop(name + "_copy", on: server)
        await ScratchDatabase.drop(name, on: server)
        let admin = PostgresPool(configuration: server)
        let left = try await admin.query("SELECT count(*) FROM pg_database WHERE datname LIKE \(name + "%")").firstRow()
        #expect(try left.decode(Int.self, at: 0) == 0)
        await admin.close()
    }

    @Test(arguments: ["x; DROP DATABASE postgres", "Upper", "1digit", "quote'", ""])
    func namesThatAreNotPlainIdentifiersAreRefused(name: String) async throws {
        let server = try await TestServer.shared.configuration()
        let error = await #expect(throws: PostgresError.self) { try await ScratchDatabase.create(name, on: server) }
        #expect(error?.description.contains("is not a scratch database name") == true)
    }
}
