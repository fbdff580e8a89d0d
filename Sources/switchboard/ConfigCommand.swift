import ArgumentParser
import Configuration
import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore
import Synchronization

/// `switchboard config`: what the processes on this host will run with. It reads the environment
/// through the very functions `worker` and `webhook` use at start-up (a collecting `Settings`
/// reader), and lists what they read, as the reader's access reporter saw it: every variable
/// that is set, checked, secrets masked. Exits 64 if any is invalid.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show and check the configuration from the environment (secrets masked).",
        discussion: """
            Every flag of `worker` and `webhook` can also be set as SWITCHBOARD_<FLAG> (e.g.
            SWITCHBOARD_CONCURRENCY=50, SWITCHBOARD_LISTEN=false); a flag given on the command line wins.
            A SWITCHBOARD_ variable that no process reads is flagged as unknown (a typo?).
            Example:
              switchboard config            # before starting processes on a new host
            """)

    @OptionGroup var output: OutputOptions

    struct Setting: Encodable, Equatable {
        var name: String
        var value: String
        var problem: String?
        /// Set but read by no process (a warning, not a failure).
        var unknown = false
    }

    func run() async throws {
        let settings = Self.check(ProcessInfo.processInfo.environment)
        if output.json {
            try printJSON(settings)
        } else {
            printTable(
                ["variable", "value", "check"],
                settings.map {
                    [$0.name, $0.value, $0.problem.map { "✗ " + $0 } ?? ($0.unknown ? "? read by no process" : "ok")]
                })
        }
        if settings.contains(where: { $0.problem != nil }) { throw ExitCode.validationFailure }
    }

    /// Reads everything the processes read, then lists the variables that are set (and the
    /// required ones, set or not) with their problems.
    static func check(_ environment: [String: String]) -> [Setting] {
        let report = SettingsReport()
        let settings = Settings(environment: environment, collectingProblems: true, reporter: report)
        var display: [String: String] = [:]
        var extra: [Setting] = []

        if let database = DatabaseOptions.url(settings) {
            do { display[database.source] = try PostgresConfiguration(database.value).description } catch {
                try? settings.problem(database.source, (error as? PostgresError)?.message ?? "\(error)")
                display[database.source] = "(unreadable)"
            }
        } else {
            extra.append(
                Setting(
                    name: "DATABASE_URL", value: "(not set)",
                    problem: "required by migrate, worker, webhook and the other commands"))
        }
        _ = try? DatabaseOptions.poolSize(settings)
        _ = try? LogOptions.level(settings)
        _ = try? LogOptions.format(settings)
        if let vault = try? MasterKey.vault(settings, required: false) {
            if settings.text("master-key", secret: true) != nil {
                display["SWITCHBOARD_MASTER_KEY"] = "current key \(vault.currentKeyID) (masked)"
            }
        } else if settings.text("master-key", secret: true) == nil, settings.text("master-key-file") == nil {
            extra.append(
                Setting(
                    name: "SWITCHBOARD_MASTER_KEY", value: "(not set)",
                    problem: "needed to send and to verify webhooks (accounts are encrypted)"))
        }
        _ = try? WorkerCommand.configuration(settings)
        _ = try? WebhookCommand.configuration(settings)

        let problems = settings.problems
        var rows = report.found.map { read in
            Setting(
                name: read.variable, value: display[read.variable] ?? read.shown,
                problem: problems.first { $0.source == read.variable }?.message)
        }
        rows += extra
        // Set, but no process read it: most likely a typo (SWITCHBOARD_CONCURENCY).
        let read = Set(report.found.map(\.variable))
        let ignored: Set<String> = ["SWITCHBOARD_BIN", "SWITCHBOARD_TEST_WIDTH"]
        for name in environment.keys.sorted()
        where name.hasPrefix("SWITCHBOARD_") && !read.contains(name) && !ignored.contains(name)
            && !(environment[name] ?? "").isEmpty
        {
            let secret = Settings.secretVariables.contains(name)
            rows.append(Setting(name: name, value: secret ? "(masked)" : environment[name]!, unknown: true))
        }
        return rows
    }
}

/// What a `Settings` reader read, as its access reporter saw it: each key found, under the name
/// the environment provider gave it (`SWITCHBOARD_GRACE_PERIOD`), secrets masked.
final class SettingsReport: AccessReporter {
    struct Read: Sendable {
        var variable: String
        var shown: String
    }

    private let reads = Mutex<[Read]>([])

    /// Keys that had a value, in first-read order, each once.
    var found: [Read] { reads.withLock { $0 } }

    func report(_ event: AccessEvent) {
        for provider in event.providerResults {
            guard case .success(let lookup) = provider.result, let value = lookup.value else { continue }
            guard case .string(let text) = value.content, !text.isEmpty else { return }
            let shown = value.isSecret ? "(set, \(text.count) characters, masked)" : text
            reads.withLock { reads in
                if !reads.contains(where: { $0.variable == lookup.encodedKey }) {
                    reads.append(Read(variable: lookup.encodedKey, shown: shown))
                }
            }
            return
        }
    }
}
