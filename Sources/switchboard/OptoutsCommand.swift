import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardStore

struct OptoutsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optouts",
        abstract: "Who must not be messaged: list, add and remove suppressions, and an address's consent history.",
        discussion: """
            STOP replies and Twilio's 21610/30005/30006 add suppressions by themselves; these commands are
            for opt-outs that arrive elsewhere (a form, a support ticket) and for opt-ins.
            Examples:
              switchboard optouts list --account main
              switchboard optouts add --account main --number +15551234567 --reason "asked by email"
              switchboard optouts add --account main --number +15551234567 --pool marketing
              switchboard optouts remove --account main --number +15551234567
              switchboard optouts history --account main --number +15551234567
            """,
        subcommands: [List.self, Add.self, Remove.self, History.self])

    /// Account, number and the scope of the suppression.
    struct Target: ParsableArguments {
        @Option(help: "Account name.") var account: String
        @Option(help: "The recipient, as E.164 (+15551234567) or whatsapp:+…") var number: String
        @Option(help: "Only for this sender number (default: every sender of the account).") var sender: String?
        @Option(help: "Only for this pool.") var pool: String?

        func validate() throws {
            do { _ = try ChannelAddress(parsing: number, field: "--number") } catch {
                throw ValidationError("\(error)")
            }
            guard sender == nil || pool == nil else { throw ValidationError("give --sender or --pool, not both") }
        }

        var scope: (String, String) {
            if let sender { return ("sender", sender) }
            if let pool { return ("pool", pool) }
            return ("account", "")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An account's suppressions, newest first.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Account name.") var account: String
        @Option(help: "Only this recipient.") var number: String?
        @Option(help: "At most this many.") var limit = 100
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let rows = try await database.withPool { pool in
                try await DeliveryStore(pool: pool).suppressions(
                    accountID: try await accountID(named: account, pool: pool), address: number, limit: limit)
            }
            if output.json { return try printJSON(rows) }
            printTable(
                ["number", "scope", "reason", "source", "since"],
                rows.map {
                    [
                        $0.address, $0.scope == "account" ? "account" : "\($0.scope) \($0.scopeValue)",
                        cell($0.reason, limit: 40),
                        $0.source, RelativeTime.text(for: $0.createdAt, now: Date()),
                    ]
                }, emptyMessage: "no suppressions")
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop messaging a recipient (recorded as an opt-out).")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var target: Target
        @Option(help: "Why, for the consent history.") var reason = "opted out outside Switchboard"

        func run() async throws {
            let (scope, value) = target.scope
            try await database.withPool { pool in
                try await DeliveryStore(pool: pool).suppress(
                    accountID: try await accountID(named: target.account, pool: pool), address: target.number,
                    scope: scope, scopeValue: value, reason: reason, source: "api")
            }
            print("suppressed \(target.number) (\(scope == "account" ? "every sender" : "\(scope) \(value)"))")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Message a recipient again (recorded as an opt-in; do this only with their consent).")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var target: Target

        func run() async throws {
            let (scope, value) = target.scope
            let removed = try await database.withPool { pool in
                try await DeliveryStore(pool: pool).unsuppress(
                    accountID: try await accountID(named: target.account, pool: pool), address: target.number,
                    scope: scope, scopeValue: value)
            }
            print("removed \(removed) suppression(s) of \(target.number); the opt-in is recorded")
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every opt-out and opt-in of a recipient, oldest first.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Account name.") var account: String
        @Option(help: "The recipient.") var number: String
        @OptionGroup var output: OutputOptions

        struct Event: Encodable {
            var event: String
            var source: String
            var at: Date
        }

        func run() async throws {
            let events = try await database.withPool { pool in
                try await DeliveryStore(pool: pool).consentHistory(
                    accountID: try await accountID(named: account, pool: pool), address: number)
            }.map { Event(event: $0.event, source: $0.source, at: $0.at) }
            if output.json { return try printJSON(events) }
            printTable(
                ["event", "source", "at"], events.map { [$0.event, $0.source, "\($0.at)"] },
                emptyMessage: "no consent events for \(number)")
        }
    }
}
