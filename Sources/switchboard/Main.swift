import ArgumentParser
import Foundation
import SwitchboardMetrics

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
        // The metrics backend, before anything records (swift-metrics takes one per process).
        SwitchboardMetrics.bootstrapProcess()
        let command: any ParsableCommand
        do {
            command = try Switchboard.parseAsRoot(arguments)
        } catch {
            let code = Switchboard.exitCode(for: error)
            let unexpected = Switchboard.fullMessage(for: error).lowercased().contains("unexpected argument")
            guard code != .success, unexpected, let suggestion = SubcommandSuggestion.suggestion(for: arguments) else {
                Switchboard.exit(withError: error)
            }
            FileHandle.standardError.write(Data((Switchboard.fullMessage(for: error) + "\n" + suggestion + "\n").utf8))
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
