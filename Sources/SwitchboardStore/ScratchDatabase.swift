import Postgres

/// A database of its own on a server, for the benchmarks and the tests: created migrated (from
/// nothing, or copied from a migrated template, which is much faster), dropped afterwards even
/// while connections remain.
public enum ScratchDatabase {
    /// Creates `name` on `server`: a copy of `template`, or a new database that is then migrated.
    public static func create(_ name: String, on server: PostgresConfiguration, template: String? = nil)
        async throws
    {
        try checkName(name)
        if let template { try checkName(template) }
        let admin = PostgresPool(configuration: server, options: .init(maxConnections: 1))
        do {
            let copy = template.map { " TEMPLATE \($0)" } ?? ""
            try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)\(copy)"))
            await admin.close()
        } catch {
            await admin.close()
            throw error
        }
        guard template == nil else { return }
        let pool = PostgresPool(configuration: server.withDatabase(name), options: .init(maxConnections: 1))
        do {
            try await Migrator(pool: pool).migrate()
            await pool.close()
        } catch {
            await pool.close()
            await drop(name, on: server)
            throw error
        }
    }

    /// Drops `name`, disconnecting whoever is still connected. Errors are ignored: this is cleanup.
    public static func drop(_ name: String, on server: PostgresConfiguration) async {
        guard (try? checkName(name)) != nil else { return }
        let admin = PostgresPool(configuration: server, options: .init(maxConnections: 1))
        _ = try? await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
        await admin.close()
    }

    /// Names are spliced into the statement (CREATE DATABASE takes no parameters): lower-case
    /// letters, digits and underscores only.
    private static func checkName(_ name: String) throws(PostgresError) {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.count <= 63,
            name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" })
        else {
            throw PostgresError(.invalidConfiguration, message: "'\(name)' is not a scratch database name")
        }
    }
}
