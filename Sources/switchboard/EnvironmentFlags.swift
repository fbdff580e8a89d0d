import ArgumentParser
import Foundation

/// Every flag of the long-running processes (`worker`, `webhook`) can also be set in the
/// environment: `--grace-period 30s` is `SWITCHBOARD_GRACE_PERIOD=30s`, `--no-listen` is
/// `SWITCHBOARD_LISTEN=false`. A flag on the command line wins. Values from the environment are
/// checked by the same parser as flags; an error about one names its variable.
enum EnvironmentFlags {
    /// Commands whose flags the environment can set.
    static let commands: [String: any ParsableCommand.Type] = [
        "worker": WorkerCommand.self, "webhook": WebhookCommand.self,
    ]
    /// Flags whose commands read the environment themselves (with their own error messages).
    static let readInCode: Set<String> = [
        "database-url", "log-level", "log-format", "public-url", "twilio-base-url", "metrics-port", "metrics-host",
        "help",
    ]

    struct Expansion {
        var arguments: [String]
        /// Flag → the variable it came from.
        var sources: [String: String] = [:]
        /// Values no flag could take (a boolean that is neither true nor false).
        var errors: [String] = []
    }

    static func variable(for flag: String) -> String {
        "SWITCHBOARD_" + flag.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    static func expand(_ arguments: [String], environment: [String: String]) -> Expansion {
        var expansion = Expansion(arguments: arguments)
        guard let name = arguments.first, let command = commands[name] else { return expansion }
        let given = Set(
            arguments.compactMap { argument -> String? in
                guard argument.hasPrefix("--") else { return nil }
                let flag = argument.dropFirst(2).split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
                return flag.hasPrefix("no-") ? String(flag.dropFirst(3)) : flag
            })
        for option in options(of: command) where !given.contains(option.name) && !readInCode.contains(option.name) {
            let variable = variable(for: option.name)
            guard let value = environment[variable], !value.isEmpty else { continue }
            switch option.kind {
            case .value:
                expansion.arguments += ["--\(option.name)", value]
            case .inversion, .flag:
                let lowered = value.lowercased()
                if ["1", "true", "yes", "on"].contains(lowered) {
                    expansion.arguments.append("--\(option.name)")
                } else if ["0", "false", "no", "off"].contains(lowered) {
                    if option.kind == .inversion { expansion.arguments.append("--no-\(option.name)") }
                } else {
                    expansion.errors.append("\(variable): '\(value)' is not true or false")
                }
            }
            expansion.sources[option.name] = variable
        }
        return expansion
    }

    struct Option: Equatable {
        enum Kind { case value, inversion, flag }
        var name: String
        var kind: Kind
    }

    /// The command's long options, read from its help (the one description ArgumentParser exposes).
    static func options(of command: any ParsableCommand.Type) -> [Option] {
        let help = Switchboard.helpMessage(for: command, columns: 10_000)
        var options: [Option] = []
        for line in help.split(separator: "\n") {
            let trimmed = line.drop { $0 == " " }
            guard trimmed.hasPrefix("--") || trimmed.hasPrefix("-") else { continue }
            guard let range = trimmed.range(of: "--") else { continue }
            var rest = trimmed[range.upperBound...]
            var kind = Option.Kind.flag
            if rest.hasPrefix("[no-]") {
                kind = .inversion
                rest = rest.dropFirst(5)
            }
            let name = String(rest.prefix { $0.isLetter || $0.isNumber || $0 == "-" })
            if kind == .flag, rest.dropFirst(name.count).hasPrefix(" <") { kind = .value }
            if !name.isEmpty, !options.contains(where: { $0.name == name }) {
                options.append(Option(name: name, kind: kind))
            }
        }
        return options
    }

    /// The parser's message, with the variable named when the flag came from the environment.
    static func explain(_ message: String, sources: [String: String]) -> String {
        for (flag, variable) in sources where message.contains("--\(flag)") {
            return message + "\n(--\(flag) was set by the environment variable \(variable))"
        }
        return message
    }
}

/// "Did you mean …?" for a mistyped subcommand: `switchboard sned` → `switchboard send`.
enum SubcommandSuggestion {
    static func suggestion(for arguments: [String]) -> String? {
        var command: any ParsableCommand.Type = Switchboard.self
        var path = ["switchboard"]
        for argument in arguments where !argument.hasPrefix("-") {
            let subcommands = command.configuration.subcommands
            guard !subcommands.isEmpty else { return nil }
            if let next = subcommands.first(where: { name(of: $0) == argument }) {
                command = next
                path.append(argument)
                continue
            }
            let names = subcommands.map(name(of:))
            let ranked = names.map { ($0, distance($0, argument)) }.sorted { $0.1 < $1.1 }
            guard let best = ranked.first, best.1 <= max(2, argument.count / 3) || best.0.hasPrefix(argument) else {
                return "\(path.joined(separator: " ")) has: \(names.joined(separator: ", "))"
            }
            return "did you mean `\((path + [best.0]).joined(separator: " "))`?"
        }
        return nil
    }

    static func name(of command: any ParsableCommand.Type) -> String {
        command.configuration.commandName ?? String(describing: command).lowercased()
    }

    /// Levenshtein distance.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}

@main
enum SwitchboardMain {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let expansion = EnvironmentFlags.expand(arguments, environment: ProcessInfo.processInfo.environment)
        if let problem = expansion.errors.first {
            FileHandle.standardError.write(Data("Error: \(problem)\n".utf8))
            Switchboard.exit(withError: ExitCode.validationFailure)
        }
        let command: any ParsableCommand
        do {
            command = try Switchboard.parseAsRoot(expansion.arguments)
        } catch {
            let code = Switchboard.exitCode(for: error)
            let unexpected = Switchboard.fullMessage(for: error).lowercased().contains("unexpected argument")
            let suggestion = unexpected ? SubcommandSuggestion.suggestion(for: arguments) : nil
            guard code != .success, !expansion.sources.isEmpty || suggestion != nil else {
                Switchboard.exit(withError: error)
            }
            var message = EnvironmentFlags.explain(Switchboard.fullMessage(for: error), sources: expansion.sources)
            if let suggestion { message += "\n" + suggestion }
            FileHandle.standardError.write(Data((message + "\n").utf8))
            Switchboard.exit(withError: ExitCode(code.rawValue))
        }
        do {
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                var synchronous = command
                try synchronous.run()
            }
        } catch {
            Switchboard.exit(withError: error)
        }
    }
}
