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

    @Option(help: "Most database connections this process opens.")
    var poolSize: Int = 10

    func configuration() throws -> PostgresConfiguration {
        let environment = ProcessInfo.processInfo.environment
        let (value, source): (String?, String) =
            if let databaseURL {
                (databaseURL, "--database-url")
            } else if let url = environment["SWITCHBOARD_DATABASE_URL"] {
                (url, "SWITCHBOARD_DATABASE_URL")
            } else {
                (environment["DATABASE_URL"], "DATABASE_URL")
            }
        guard let value, !value.isEmpty else {
            throw ValidationError(
                "no database given: pass --database-url postgres://user@host:5432/db or set DATABASE_URL")
        }
        do {
            var configuration = try PostgresConfiguration(value)
            if configuration["application_name"] == nil { configuration["application_name"] = "switchboard" }
            return configuration
        } catch let error as PostgresError {
            throw ValidationError("\(source): \(error.message)")
        }
    }

    func pool() throws -> PostgresPool {
        guard poolSize >= 1 else { throw ValidationError("--pool-size must be at least 1") }
        return PostgresPool(configuration: try configuration(), options: .init(maxConnections: poolSize))
    }

    /// Runs `body` with a pool that is closed afterwards.
    func withPool<T: Sendable>(_ body: (PostgresPool) async throws -> T) async throws -> T {
        let pool = try pool()
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
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = ProcessInfo.processInfo.environment["SWITCHBOARD_LOG_LEVEL"] ?? "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError(
                "--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func makeLogger(_ label: String) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return logger
    }
}

/// Parses a duration flag, turning a bad value into a usage error that names the flag.
func parseDuration(_ text: String, flag: String) throws -> Duration {
    do { return try DurationParsing.parse(text, field: flag) } catch { throw ValidationError(error.description) }
}
