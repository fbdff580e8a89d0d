import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardStore

/// `switchboard a2p`: the US A2P 10DLC registrations carrier pacing works from.
struct A2PCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "a2p",
        abstract: "Pace SMS to US carriers by your A2P 10DLC registration (brand, campaign, carrier budgets).",
        discussion: """
            Examples:
              switchboard a2p classes
              switchboard a2p brand --account main --name acme --class standard_75
              switchboard a2p campaign --account main --brand acme --name marketing --class standard_75
              switchboard a2p assign --account main --brand acme --campaign marketing --pool marketing
              switchboard a2p status
            """,
        subcommands: [Classes.self, Brand.self, Campaign.self, Assign.self, Status.self])

    struct Classes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The published limits by brand score / campaign class (rows of switchboard.ten_dlc_classes).",
            discussion:
                "Edit them in SQL to match what your registration was granted: UPDATE switchboard.ten_dlc_classes SET …"
        )
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let classes = try await database.withPool { try await CarrierStore(pool: $0).classes() }
            if output.json { return try printJSON(classes) }
            printTable(
                ["class", "per carrier /min", "minor carriers /min", "T-Mobile /day", "description"],
                classes.map {
                    [
                        $0.name, "\($0.perCarrierPerMinute)", "\($0.minorCarrierPerMinute)",
                        $0.tmobilePerDay.map(String.init) ?? "no cap", $0.description,
                    ]
                })
        }
    }

    struct Brand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a brand (or change it): its T-Mobile daily cap is shared by all its campaigns.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Account name.") var account: String
        @Option(help: "Brand name (your own; lowercase letters, digits, . _ -).") var name: String
        @Option(help: "Take the daily cap from this class (see `a2p classes`).") var `class`: String?
        @Option(help: "T-Mobile segments per US Pacific day (overrides the class).") var tmobilePerDay: Int?

        func run() async throws {
            try await database.withPool { pool in
                let account = try await accountID(named: account, pool: pool)
                try await asUsage {
                    try await CarrierStore(pool: pool).saveBrand(
                        accountID: account, name: name, className: `class`, tmobilePerDay: tmobilePerDay)
                }
            }
            print("brand '\(name)' saved")
        }
    }

    struct Campaign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a brand's 10DLC campaign (or change it): its budget per carrier per minute.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Account name.") var account: String
        @Option(help: "Its brand.") var brand: String
        @Option(help: "Campaign name (your own).") var name: String
        @Option(help: "Take its budgets from this class (see `a2p classes`).") var `class`: String?
        @Option(help: "Segments per minute to each of AT&T, T-Mobile and Verizon (overrides the class).")
        var perMinute: Int?
        @Option(help: "Segments per minute to each minor carrier (overrides the class).") var minorPerMinute: Int?

        func run() async throws {
            try await database.withPool { pool in
                let account = try await accountID(named: account, pool: pool)
                try await asUsage {
                    try await CarrierStore(pool: pool).saveCampaign(
                        accountID: account, brand: brand, name: name, className: `class`,
                        perCarrierPerMinute: perMinute, minorCarrierPerMinute: minorPerMinute)
                }
            }
            print("campaign '\(name)' of brand '\(brand)' saved")
        }
    }

    struct Assign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a pool's (or a number's direct) SMS under a registered campaign; --none takes it off.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Account name.") var account: String
        @Option(help: "The campaign's brand.") var brand: String
        @Option(help: "The registered campaign.") var campaign: String?
        @Flag(help: "No campaign: no carrier pacing for it.") var none = false
        @Option(help: "A pool (its sends use the pool's campaign).") var pool: String?
        @Option(help: "A number (sends From it without a pool).") var number: String?

        func validate() throws {
            guard (pool == nil) != (number == nil) else { throw ValidationError("give one of --pool or --number") }
            guard (campaign == nil) == none else { throw ValidationError("give --campaign or --none") }
        }

        func run() async throws {
            let found = try await database.withPool { db in
                let account = try await accountID(named: account, pool: db)
                return try await asUsage {
                    try await CarrierStore(pool: db).assign(
                        accountID: account, brand: brand, campaign: campaign, pool: pool, number: number)
                }
            }
            guard found else {
                throw ValidationError(
                    pool.map { "--pool: no pool named '\($0)'" } ?? "--number: \(number ?? "") is not a sender")
            }
            print(
                "\(pool.map { "pool '\($0)'" } ?? number ?? "") "
                    + (campaign.map { "sends under campaign '\($0)'" } ?? "is no longer carrier-paced"))
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Each registered campaign's budget per carrier: effective MPS, booked ahead, today's count.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let (budgets, held) = try await database.withPool { pool in
                let store = CarrierStore(pool: pool)
                return (try await store.budgets(), try await store.held())
            }
            if output.json { return try printJSON(budgets) }
            printCarrierBudgets(budgets, held: held)
        }
    }
}

/// The carrier budgets table `a2p status` and `status` print.
func printCarrierBudgets(_ budgets: [CarrierStore.BudgetStatus], held: [CarrierStore.HeldJobs]) {
    printTable(
        ["brand", "campaign", "carrier", "MPS", "per min", "booked ahead", "today", "daily cap", "waiting"],
        budgets.map { budget in
            [
                budget.brand, budget.campaign, budget.carrier, String(format: "%.2f", budget.mps),
                "\(budget.perMinute)",
                String(format: "%.1f s", budget.bookedAhead), "\(budget.today)",
                budget.dailyCap.map(String.init) ?? "-", CarrierStore.HeldJobs.waiting(for: budget.carrier, in: held),
            ]
        },
        emptyMessage: "no registered 10DLC campaigns (see `switchboard a2p --help`)")
}

/// Runs `body`; an input error (naming its field) becomes a usage error naming the flag.
func asUsage<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let error as InputError {
        throw ValidationError("--\(error.field): \(error.problem)")
    }
}
