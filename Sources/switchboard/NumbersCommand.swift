import ArgumentParser
import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore

/// Looks up an account id by name, as a usage error when it does not exist.
func accountID(named name: String, pool: PostgresPool) async throws -> Int64 {
    let row = try await pool.query("SELECT id FROM switchboard.accounts WHERE name = \(name)").first
    guard let id = try row?.decode(Int64.self, at: 0) else {
        throw ValidationError("--account: no account named '\(name)' (see `switchboard accounts list`)")
    }
    return id
}

struct NumbersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "numbers",
        abstract: "Manage senders (numbers, short codes, WhatsApp senders) and their throughput.",
        subcommands: [Add.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a sender (or update its settings).",
            discussion: """
                Throughput defaults by kind, in segments per second: long_code 1, toll_free 3,
                short_code 100, whatsapp 10, alphanumeric 10.
                Example: switchboard numbers add --account main --number +15551234567 --kind long_code --rate 1
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Account name.") var account: String
        @Option(help: "The number as Twilio writes it (+1555…, whatsapp:+1555…, 12345, or an alphanumeric ID).")
        var number: String
        @Option(help: "long_code, toll_free, short_code, whatsapp or alphanumeric.") var kind: String = "long_code"
        @Option(help: "Segments per second (default by kind).") var rate: Double?
        @Option(help: "Segments that may be booked at once ahead of the rate.") var burst: Double = 1
        @Option(help: "Comma-separated: sms, mms, voice, whatsapp (default by kind).") var capabilities: String?

        func run() async throws {
            guard let kind = SenderKind(rawValue: kind) else {
                throw ValidationError(
                    "--kind '\(kind)' is not one of \(SenderKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let id = try await database.withPool { pool in
                do {
                    return try await SenderStore(pool: pool).addSender(
                        accountID: try await accountID(named: account, pool: pool), address: number, kind: kind,
                        rate: rate,
                        burst: burst, capabilities: capabilities.map { $0.split(separator: ",").map(String.init) })
                } catch let error as InputError {
                    throw ValidationError(error.description)
                }
            }
            print("sender \(number) saved (id \(id))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List senders with their rate and current booking.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let rows = try await database.withPool { pool in
                try await pool.query(
                    """
                    SELECT a.name, s.address, s.kind, s.rate, s.burst, array_to_string(s.capabilities, ','),
                           greatest(extract(epoch FROM s.tat - now()), 0)::float8, s.enabled
                    FROM switchboard.senders s JOIN switchboard.accounts a ON a.id = s.account_id ORDER BY a.name, s.address
                    """)
            }
            print("account\tnumber\tkind\trate/s\tburst\tcapabilities\tbooked ahead (s)\tenabled")
            for row in rows {
                print(
                    [
                        try row.decode(String.self, at: 0), try row.decode(String.self, at: 1),
                        try row.decode(String.self, at: 2),
                        String(try row.decode(Double.self, at: 3)), String(try row.decode(Double.self, at: 4)),
                        try row.decode(String.self, at: 5), String(format: "%.1f", try row.decode(Double.self, at: 6)),
                        String(try row.decode(Bool.self, at: 7)),
                    ].joined(separator: "\t"))
            }
        }
    }
}

struct PoolsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pools",
        abstract: "Manage number pools (senders used together, like a Messaging Service).",
        subcommands: [Create.self])

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
}
