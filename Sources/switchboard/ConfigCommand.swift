import ArgumentParser
import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore

/// `switchboard config`: the settings this host's environment gives, each checked the way the
/// processes check it at start-up, secrets masked. Exits 64 if any is invalid.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show and check the configuration from the environment (secrets masked).",
        discussion: """
            Every flag of `worker` and `webhook` can also be set as SWITCHBOARD_<FLAG> (e.g.
            SWITCHBOARD_CONCURRENCY=50, SWITCHBOARD_LISTEN=false); a flag given on the command line wins.
            Example:
              switchboard config            # before starting processes on a new host
            """)

    @OptionGroup var output: OutputOptions

    struct Setting: Encodable {
        var name: String
        var value: String
        var problem: String?
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let settings = Self.check(environment)
        if output.json {
            try printJSON(settings)
        } else {
            printTable(
                ["variable", "value", "check"],
                settings.map { [$0.name, $0.value, $0.problem.map { "✗ " + $0 } ?? "ok"] })
        }
        if settings.contains(where: { $0.problem != nil }) { throw ExitCode.validationFailure }
    }

    /// Known variables that are set (plus the required ones, set or not), checked and masked.
    static func check(_ environment: [String: String]) -> [Setting] {
        var settings: [Setting] = []
        func add(_ name: String, _ value: String, _ problem: String? = nil) {
            settings.append(Setting(name: name, value: value, problem: problem))
        }
        let databaseName = environment["SWITCHBOARD_DATABASE_URL"] != nil ? "SWITCHBOARD_DATABASE_URL" : "DATABASE_URL"
        if let url = environment[databaseName], !url.isEmpty {
            do { add(databaseName, try PostgresConfiguration(url).description) } catch let error as PostgresError {
                add(databaseName, "(unreadable)", error.message)
            } catch { add(databaseName, "(unreadable)", "\(error)") }
        } else {
            add("DATABASE_URL", "(not set)", "required by migrate, worker, webhook and the other commands")
        }
        if environment["SWITCHBOARD_MASTER_KEY"] != nil || environment["SWITCHBOARD_MASTER_KEY_FILE"] != nil {
            let name =
                environment["SWITCHBOARD_MASTER_KEY"] != nil ? "SWITCHBOARD_MASTER_KEY" : "SWITCHBOARD_MASTER_KEY_FILE"
            do {
                let vault = try CredentialVault.fromEnvironment()
                add(name, name.hasSuffix("_FILE") ? environment[name]! : "current key \(vault.currentKeyID) (masked)")
            } catch { add(name, "(masked)", "\(error)") }
        } else {
            add("SWITCHBOARD_MASTER_KEY", "(not set)", "needed to send and to verify webhooks (accounts are encrypted)")
        }
        // The rules the processes apply: the public URL is signed as Twilio calls it, so no query;
        // the API bases may carry one (Azure OpenAI's ?api-version=…), as worker and webhook accept.
        for (name, allowQuery) in [
            ("SWITCHBOARD_PUBLIC_URL", false), ("SWITCHBOARD_TWILIO_BASE_URL", true), ("OPENAI_BASE_URL", true),
        ] {
            guard let value = environment[name], !value.isEmpty else { continue }
            let problem = allowQuery ? "not an http(s) URL" : "not an http(s) URL without a query"
            add(name, value, HTTPURL.isValidBase(value, allowQuery: allowQuery) ? nil : problem)
        }
        for name in ["OPENAI_API_KEY", "SWITCHBOARD_DASHBOARD_TOKEN"] {
            guard let value = environment[name], !value.isEmpty else { continue }
            let short = name == "SWITCHBOARD_DASHBOARD_TOKEN" && value.count < 16
            add(name, "(set, \(value.count) characters, masked)", short ? "use at least 16 characters" : nil)
        }
        for (name, allowed) in [
            ("SWITCHBOARD_LOG_LEVEL", LogOptions.levels), ("SWITCHBOARD_LOG_FORMAT", LogOptions.formats),
        ] {
            guard let value = environment[name] else { continue }
            add(name, value, allowed.contains(value) ? nil : "not one of \(allowed.joined(separator: ", "))")
        }
        if let port = environment["SWITCHBOARD_METRICS_PORT"] {
            add(
                "SWITCHBOARD_METRICS_PORT", port,
                Int(port).map { (1...65535).contains($0) } == true ? nil : "not a port")
        }
        // Flags of worker and webhook given as SWITCHBOARD_<FLAG>: checked by their parser.
        for (command, type) in EnvironmentFlags.commands.sorted(by: { $0.key < $1.key }) {
            let expansion = EnvironmentFlags.expand([command], environment: environment)
            for (flag, variable) in expansion.sources.sorted(by: { $0.key < $1.key })
            where !settings.contains(where: { $0.name == variable }) {
                var problem: String?
                if let error = expansion.errors.first(where: { $0.hasPrefix(variable) }) {
                    problem = error
                } else {
                    do { _ = try type.parse(Array(expansion.arguments.dropFirst())) } catch {
                        let message = type.message(for: error)
                        if message.contains("--\(flag)") { problem = message }
                    }
                }
                add(variable, environment[variable] ?? "", problem.map { "\(command): \($0)" })
            }
        }
        return settings
    }
}
