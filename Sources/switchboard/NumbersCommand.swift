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

/// `--rate` and `--burst` within what a sender can be given, named as flags.
func checkThroughputFlags(rate: Double?, burst: Double?) throws {
    do {
        if let rate { try SenderSpec.check(rate: rate, field: "--rate") }
        if let burst { try SenderSpec.check(burst: burst, field: "--burst") }
    } catch { throw ValidationError(error.description) }
}

struct NumbersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "numbers",
        abstract: "Manage senders (numbers, short codes, WhatsApp senders) and their throughput.",
        discussion: """
            Examples:
              switchboard numbers add --account main --number +15551234567 --kind long_code --rate 1
              switchboard numbers import --account main --file numbers.csv --pool marketing
              switchboard numbers list
              switchboard numbers update --account main --number +15551234567 --rate 3
              switchboard numbers remove --account main --number +15551234567
            """,
        subcommands: [Add.self, List.self, Update.self, Remove.self, Import.self])

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

        func validate() throws { try checkThroughputFlags(rate: rate, burst: burst) }

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
        static let configuration = CommandConfiguration(
            abstract: "List senders with their rate, burst and current booking.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let senders = try await database.withPool { try await OperationsStore(pool: $0).senderLoad() }
            if output.json { return try printJSON(senders) }
            printTable(
                ["account", "number", "limit/s", "burst", "sent last min", "booked ahead", "enabled"],
                senders.map {
                    [
                        $0.account, $0.address, String(format: "%g", $0.rate), String(format: "%g", $0.burst),
                        "\($0.sentLastMinute)",
                        String(format: "%.1fs", $0.bookedAhead), $0.enabled ? "yes" : "no",
                    ]
                }, emptyMessage: "no senders (add one with `switchboard numbers add`)")
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a sender's rate or burst, or take it out of (and back into) service.",
            discussion: """
                Examples:
                  switchboard numbers update --account main --number +15551234567 --rate 3
                  switchboard numbers update --account main --number +15551234567 --disable   # pools skip it
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Account name.") var account: String
        @Option(help: "The sender.") var number: String
        @Option(help: "Segments per second.") var rate: Double?
        @Option(help: "Segments that may be booked at once ahead of the rate.") var burst: Double?
        @Flag(help: "Stop sending from it (pools choose other numbers).") var disable = false
        @Flag(help: "Send from it again.") var enable = false

        func validate() throws {
            guard !(disable && enable) else { throw ValidationError("give --disable or --enable, not both") }
            guard rate != nil || burst != nil || disable || enable else {
                throw ValidationError("nothing to change: give --rate, --burst, --disable or --enable")
            }
            try checkThroughputFlags(rate: rate, burst: burst)
        }

        func run() async throws {
            let updated = try await database.withPool { pool in
                do {
                    return try await SenderStore(pool: pool).updateSender(
                        accountID: try await accountID(named: account, pool: pool), address: number, rate: rate,
                        burst: burst, enabled: disable ? false : enable ? true : nil)
                } catch let error as InputError { throw ValidationError("--\(error.description)") }
            }
            guard updated else {
                throw ValidationError(
                    "--number \(number) is not a sender of '\(account)' (see `switchboard numbers list`)")
            }
            print("sender \(number) updated")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a sender (and its pool memberships); its messages keep their history.",
            discussion: "Example: switchboard numbers remove --account main --number +15551234567")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Account name.") var account: String
        @Option(help: "The sender.") var number: String

        func run() async throws {
            let removed = try await database.withPool { pool in
                try await SenderStore(pool: pool).removeSender(
                    accountID: try await accountID(named: account, pool: pool), address: number)
            }
            guard removed else {
                throw ValidationError(
                    "--number \(number) is not a sender of '\(account)' (see `switchboard numbers list`)")
            }
            print("sender \(number) removed")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add or update many senders from a CSV file (e.g. Twilio's phone-number export).",
            discussion: """
                Columns, by header name: PhoneNumber (required), Type (long_code, toll_free, short_code, whatsapp,
                alphanumeric; inferred when absent), Capabilities ("sms, mms, voice") or SmsEnabled/MmsEnabled/
                VoiceEnabled, Rate, Burst. Every line is checked first; if any is wrong, nothing is stored.
                Example:
                  switchboard numbers import --account main --file numbers.csv --pool marketing
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Account name.") var account: String
        @Option(help: "The CSV file.") var file: String
        @Option(help: "Also put every number into this pool (created if needed).") var pool: String?
        @Flag(help: "Only check the file.") var dryRun = false

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("--file: cannot read '\(file)'")
            }
            let (senders, failures) = SenderImport.parse(String(decoding: data, as: UTF8.self))
            guard failures.isEmpty else {
                for failure in failures.prefix(50) { print(failure.description) }
                if failures.count > 50 { print("… and \(failures.count - 50) more") }
                throw ValidationError("\(failures.count) line(s) of \(file) are wrong; nothing was stored")
            }
            if dryRun { return print("\(senders.count) sender(s) would be stored; nothing was written (--dry-run)") }
            let stored = try await database.withPool { connections in
                do {
                    return try await SenderStore(pool: connections).importSenders(
                        senders, accountID: try await accountID(named: account, pool: connections), poolName: pool)
                } catch let error as InputError { throw ValidationError("--\(error.description)") }
            }
            print("stored \(stored) sender(s)" + (pool.map { ", all in pool '\($0)'" } ?? ""))
        }
    }
}
