import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardStore

struct AgentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents",
        abstract: "Voice agents that answer inbound calls: store one, bind numbers or pools to it.",
        discussion: """
            An agent is a voice_agent job's fields without account, to and from (a questions flow or an LLM
            agent); {{caller}} and {{called}} are variables of its templates. Point the numbers' "A call comes
            in" webhook at <public URL>/twilio/voice/inbound (and "Call status changes" at /twilio/calls/status).
            Examples:
              switchboard agents create --account main --name support --file support-agent.json
              switchboard agents bind --account main --agent support --number +15557654321
              switchboard agents bind --account main --agent support --pool helpline
              switchboard agents list
              switchboard agents unbind --account main --number +15557654321
              switchboard agents delete --account main --name support
            """,
        subcommands: [Create.self, List.self, Bind.self, Unbind.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store (or replace) an agent from a JSON file of voice_agent fields.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Account name.") var account: String
        @Option(help: "The agent's name (lower case, digits, . _ -).") var name: String
        @Option(help: "JSON file with the agent's fields (- for standard input).") var file: String

        func run() async throws {
            let data: Data
            if file == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let read = FileManager.default.contents(atPath: file) else {
                    throw ValidationError("--file: cannot read \(file)")
                }
                data = read
            }
            let id = try await asUsageErrors {
                guard let definition = try? JSONDecoder().decode(JSONValue.self, from: data) else {
                    throw InputError(field: "file", problem: "is not JSON")
                }
                try JobSpec.validateName(name, field: "name")
                do {
                    try AgentDefinition.check(definition, account: account)
                } catch let error as InputError {
                    throw InputError(field: "file: \(error.field)", problem: error.problem)
                }
                return try await database.withPool {
                    try await AgentStore(pool: $0).save(account: account, name: name, definition: definition)
                }
            }
            print("agent '\(name)' saved (id \(id)); bind numbers to it with `switchboard agents bind`")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Agents and the numbers and pools bound to them.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let agents = try await database.withPool { try await AgentStore(pool: $0).list() }
            if output.json { return try printJSON(agents) }
            printTable(
                ["account", "agent", "type", "answers"],
                agents.map {
                    [
                        $0.account, $0.name, $0.agentType,
                        $0.bindings.isEmpty ? "-" : $0.bindings.joined(separator: ", "),
                    ]
                }, emptyMessage: "no agents (store one with `switchboard agents create`)")
        }
    }

    struct Target: ParsableArguments {
        @Option(help: "Account name.") var account: String
        @Option(help: "A number of the account (E.164).") var number: String?
        @Option(help: "Every number of this pool.") var pool: String?

        func validate() throws {
            guard (number == nil) != (pool == nil) else { throw ValidationError("give one of --number or --pool") }
        }

        func target() throws -> AgentStore.Target {
            if let number {
                do {
                    return .number(try PhoneNumber(parsing: number, field: "--number").e164)
                } catch {
                    throw ValidationError(error.description)
                }
            }
            return .pool(pool ?? "")
        }
    }

    struct Bind: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Have an agent answer calls to a number, or to every number of a pool.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var target: Target
        @Option(help: "The agent's name.") var agent: String

        func run() async throws {
            let bound = try target.target()
            try await asUsageErrors {
                try await database.withPool {
                    try await AgentStore(pool: $0).bind(account: target.account, agent: agent, to: bound)
                }
            }
            print("calls to \(target.number ?? "pool " + (target.pool ?? "")) are answered by '\(agent)'")
        }
    }

    struct Unbind: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop answering a number's or a pool's calls.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var target: Target

        func run() async throws {
            let bound = try target.target()
            let removed = try await database.withPool {
                try await AgentStore(pool: $0).unbind(account: target.account, bound)
            }
            guard removed else { throw CommandFailure("nothing was bound there (see `switchboard agents list`)") }
            print("unbound")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an agent and its bindings.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Account name.") var account: String
        @Option(help: "The agent's name.") var name: String

        func run() async throws {
            let deleted = try await database.withPool {
                try await AgentStore(pool: $0).delete(account: account, name: name)
            }
            guard deleted else { throw CommandFailure("no agent '\(name)' in account '\(account)'") }
            print("agent '\(name)' deleted")
        }
    }
}
