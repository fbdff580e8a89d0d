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
    @Option(
        help:
            "Log level: trace, debug, info, notice, warning, error, critical (default: $SWITCHBOARD_LOG_LEVEL, else info)."
    )
    var logLevel: String?

    @Option(help: "Log format: human or json (default: $SWITCHBOARD_LOG_FORMAT, else human).")
    var logFormat: String?

    static let levels = Logger.Level.allCases.map(\.rawValue)
    static let formats = SwitchboardLogHandler.Format.allCases.map(\.rawValue)

    private var resolvedLevel: (value: String, source: String) {
        if let logLevel { return (logLevel, "--log-level") }
        return (ProcessInfo.processInfo.environment["SWITCHBOARD_LOG_LEVEL"] ?? "info", "SWITCHBOARD_LOG_LEVEL")
    }

    private var resolvedFormat: (value: String, source: String) {
        if let logFormat { return (logFormat, "--log-format") }
        return (ProcessInfo.processInfo.environment["SWITCHBOARD_LOG_FORMAT"] ?? "human", "SWITCHBOARD_LOG_FORMAT")
    }

    func validate() throws {
        let (level, levelSource) = resolvedLevel
        guard Logger.Level(rawValue: level) != nil else {
            throw ValidationError(
                "\(levelSource) '\(level)' is not one of \(Self.levels.joined(separator: ", "))")
        }
        let (format, formatSource) = resolvedFormat
        guard SwitchboardLogHandler.Format(rawValue: format) != nil else {
            throw ValidationError("\(formatSource) '\(format)' is not one of \(Self.formats.joined(separator: ", "))")
        }
    }

    func makeLogger(_ label: String) -> Logger {
        let level = Logger.Level(rawValue: resolvedLevel.value) ?? .info
        let format = SwitchboardLogHandler.Format(rawValue: resolvedFormat.value) ?? .human
        return Logger(label: label) { SwitchboardLogHandler(label: $0, format: format, logLevel: level) }
    }
}

/// Parses a duration flag, turning a bad value into a usage error that names the flag.
func parseDuration(_ text: String, flag: String) throws -> Duration {
    do { return try DurationParsing.parse(text, field: flag) } catch { throw ValidationError(error.description) }
}
