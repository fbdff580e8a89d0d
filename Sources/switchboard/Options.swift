import ArgumentParser
import Foundation
import Logging
import Postgres
import SwitchboardCore

/// Where the database is: `--database-url`, else `SWITCHBOARD_DATABASE_URL`, else `DATABASE_URL`.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: "PostgreSQL URL or conninfo (default: $SWITCHBOARD_DATABASE_URL, then $DATABASE_URL).")
    var databaseURL: String?

    @Option(help: "Most database connections this process opens (default: $SWITCHBOARD_POOL_SIZE, else 10).")
    var poolSize: Int?

    var flags: [String: String?] { ["database-url": databaseURL, "pool-size": poolSize.map(String.init)] }

    /// The database URL and where it came from, if one is set.
    static func url(_ settings: Settings) -> Settings.Found? {
        settings.text("database-url", secret: true) ?? settings.text("database-url", prefixed: false, secret: true)
    }

    static func configuration(_ settings: Settings) throws -> PostgresConfiguration {
        guard let found = url(settings) else {
            throw ValidationError(
                "no database given: pass --database-url postgres://user@host:5432/db or set DATABASE_URL")
        }
        do {
            var configuration = try PostgresConfiguration(found.value)
            if configuration["application_name"] == nil { configuration["application_name"] = "switchboard" }
            return configuration
        } catch let error as PostgresError {
            throw ValidationError("\(found.source): \(error.message)")
        }
    }

    static func poolSize(_ settings: Settings) throws -> Int {
        try settings.int("pool-size", default: 10, in: 1...10_000)
    }

    func configuration() throws -> PostgresConfiguration { try Self.configuration(Settings(flags: flags)) }

    func pool(_ settings: Settings? = nil) throws -> PostgresPool {
        let settings = settings ?? Settings(flags: flags)
        return PostgresPool(
            configuration: try Self.configuration(settings), options: .init(maxConnections: try Self.poolSize(settings))
        )
    }

    /// Runs `body` with a pool that is closed afterwards.
    func withPool<T: Sendable>(settings: Settings? = nil, _ body: (PostgresPool) async throws -> T) async throws -> T {
        let pool = try pool(settings)
        do {
            let value = try await body(pool)
            await pool.close()
            return value
        } catch {
            await pool.close()
            throw error
        }
    }
}

struct LogOptions: ParsableArguments {
    @Option(
        help:
            "Log level: trace, debug, info, notice, warning, error, critical (default: $SWITCHBOARD_LOG_LEVEL, else info)."
    )
    var logLevel: String?

    @Option(help: "Log format: human or json (default: $SWITCHBOARD_LOG_FORMAT, else human).")
    var logFormat: String?

    static let levels = Logger.Level.allCases.map(\.rawValue)
    static let formats = SwitchboardLogHandler.Format.allCases.map(\.rawValue)

    var flags: [String: String?] { ["log-level": logLevel, "log-format": logFormat] }

    static func level(_ settings: Settings) throws -> Logger.Level {
        Logger.Level(rawValue: try settings.choice("log-level", default: "info", allowed: levels)) ?? .info
    }

    static func format(_ settings: Settings) throws -> SwitchboardLogHandler.Format {
        SwitchboardLogHandler.Format(rawValue: try settings.choice("log-format", default: "human", allowed: formats))
            ?? .human
    }

    func validate() throws {
        let settings = Settings(flags: flags)
        _ = try Self.level(settings)
        _ = try Self.format(settings)
    }

    func makeLogger(_ label: String) -> Logger {
        let settings = Settings(flags: flags)
        let level = (try? Self.level(settings)) ?? .info
        let format = (try? Self.format(settings)) ?? .human
        return Logger(label: label) { SwitchboardLogHandler(label: $0, format: format, logLevel: level) }
    }
}

/// Parses a duration flag, turning a bad value into a usage error that names the flag.
func parseDuration(_ text: String, flag: String) throws -> Duration {
    do { return try DurationParsing.parse(text, field: flag) } catch { throw ValidationError(error.description) }
}
