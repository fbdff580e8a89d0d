import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardStore

struct PoolsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pools",
        abstract: "Manage number pools (senders used together, like a Messaging Service).",
        discussion: """
            Examples:
              switchboard pools create --account main --name marketing --number +15551230001 --number +15551230002
              switchboard pools list
              switchboard pools remove-number --account main --name marketing --number +15551230002
              switchboard pools delete --account main --name marketing
            """,
        subcommands: [Create.self, List.self, RemoveNumber.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a pool (or add numbers to it).",
            discussion:
                "Example: switchboard pools create --account main --name marketing --number +15551230001 --number +15551230002"
        )
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Account name.") var account: String
        @Option(help: "Pool name.") var name: String
        @Option(help: "A sender to include (repeatable); add it with `numbers add` first.") var number: [String] = []
        @Flag(inversion: .prefixedNo, help: "Keep each recipient on the number that last wrote to it.") var sticky =
            true

        func run() async throws {
            let count = try await database.withPool { pool in
                let account = try await accountID(named: account, pool: pool)
                let senders = SenderStore(pool: pool)
                var ids: [Int64] = []
                for address in number {
                    guard let id = try await senders.senderID(accountID: account, address: address) else {
                        throw ValidationError(
                            "--number \(address) is not a sender of this account; add it with `switchboard numbers add`"
                        )
                    }
                    ids.append(id)
                }
                do {
                    try await senders.createPool(accountID: account, name: name, senderIDs: ids, sticky: sticky)
                } catch let error as InputError {
                    throw ValidationError(error.description)
                }
                return ids.count
            }
            print("pool '\(name)' saved with \(count) number(s) added")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List pools with their numbers.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let pools = try await database.withPool { try await SenderStore(pool: $0).pools() }
            if output.json { return try printJSON(pools) }
            printTable(
                ["account", "pool", "sticky", "numbers"],
                pools.map { [$0.account, $0.name, $0.sticky ? "yes" : "no", $0.numbers.joined(separator: " ")] },
                emptyMessage: "no pools (create one with `switchboard pools create`)")
        }
    }

    struct RemoveNumber: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove-number", abstract: "Take numbers out of a pool (they stay senders).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Account name.") var account: String
        @Option(help: "Pool name.") var name: String
        @Option(help: "A number to take out (repeatable).") var number: [String] = []

        func validate() throws {
            guard !number.isEmpty else { throw ValidationError("give at least one --number to take out of the pool") }
        }

        func run() async throws {
            let removed = try await database.withPool { pool in
                try await SenderStore(pool: pool).removeFromPool(
                    accountID: try await accountID(named: account, pool: pool), poolName: name, addresses: number)
            }
            print("took \(removed) number(s) out of pool '\(name)'")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a pool (its numbers stay senders; jobs still naming it fail with a clear error).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Account name.") var account: String
        @Option(help: "Pool name.") var name: String

        func run() async throws {
            let deleted = try await database.withPool { pool in
                try await SenderStore(pool: pool).deletePool(
                    accountID: try await accountID(named: account, pool: pool), poolName: name)
            }
            guard deleted else {
                throw ValidationError("--name: '\(account)' has no pool '\(name)' (see `switchboard pools list`)")
            }
            print("pool '\(name)' deleted")
        }
    }
}
