import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardStore

struct CostsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "costs",
        abstract: "What messages and calls cost, added up by day, account, sender or campaign.",
        discussion: """
            Twilio publishes a price some time after sending; workers fetch it (see README, "Reports") and add it
            up here as it arrives. Costs are what was charged (Twilio's price negated), per currency, by the UTC day
            the message or call was created.
            Examples:
              switchboard costs                          (the last 30 days, by day)
              switchboard costs --by sender --since 7d
              switchboard costs --by campaign --since 2026-11-01 --until 2026-11-30 --csv > november.csv
              switchboard costs --account main --json
            """)

    @OptionGroup var database: DatabaseOptions
    @Option(help: "Group by day, account, sender or campaign (default: day).") var by = "day"
    @Option(help: "First UTC day: YYYY-MM-DD, or an age such as 7d (default: 30d).") var since = "30d"
    @Option(help: "Last UTC day: YYYY-MM-DD (default: today).") var until: String?
    @Option(help: "Only this account's.") var account: String?
    @Option(help: "Only this campaign's (its name; needs --account).") var campaign: String?
    @Flag(help: "Print CSV instead of a table.") var csv = false
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard PriceStore.Grouping(rawValue: by) != nil else {
            throw ValidationError("--by: '\(by.prefix(32))' is not one of day, account, sender, campaign")
        }
        _ = try Self.day(since, field: "--since", now: Date())
        if let until { _ = try Self.day(until, field: "--until", now: Date()) }
        if csv, output.json { throw ValidationError("--csv and --json: choose one") }
        if campaign != nil, account == nil { throw ValidationError("--campaign: give its --account too") }
    }

    /// A UTC day (YYYY-MM-DD) or an age back from now (7d, 12h).
    static func day(_ text: String, field: String, now: Date) throws -> Date {
        if text.count == 10, let date = dayFormat.date(from: text) { return date }
        do {
            return now.addingTimeInterval(-(try DurationParsing.parse(text, field: field).seconds))
        } catch {
            throw ValidationError("\(field): '\(text.prefix(32))' is neither a day (YYYY-MM-DD) nor an age (7d)")
        }
    }

    static let dayFormat: DateFormatter = {
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "UTC")
        format.dateFormat = "yyyy-MM-dd"
        format.isLenient = false
        return format
    }()

    func run() async throws {
        let now = Date()
        let from = try Self.day(since, field: "--since", now: now)
        let to = try until.map { try Self.day($0, field: "--until", now: now) } ?? now
        let (totals, backlog) = try await database.withPool { pool in
            var accountFilter: Int64?
            if let account { accountFilter = try await accountID(named: account, pool: pool) }
            var campaignID: Int64?
            if let campaign, let accountFilter {
                guard let found = try await CampaignStore(pool: pool).campaign(accountID: accountFilter, name: campaign)
                else { throw ValidationError("--campaign: account '\(account ?? "")' has no campaign '\(campaign)'") }
                campaignID = found.id
            }
            let totals = try await PriceStore(pool: pool).costs(
                by: PriceStore.Grouping(rawValue: by)!, since: from, until: to, accountID: accountFilter,
                campaignID: campaignID)
            return (totals, try await PriceStore(pool: pool).backlog())
        }
        if output.json {
            struct Report: Encodable {
                var totals: [CostTotal]
                var pricesWaiting: Int64
                var pricesUnknown: Int64
            }
            return try printJSON(Report(totals: totals, pricesWaiting: backlog.waiting, pricesUnknown: backlog.unknown))
        }
        let rows = totals.map {
            [$0.key.isEmpty ? "-" : $0.key, $0.resource, String($0.priced), $0.cost, $0.priceUnit]
        }
        if csv {
            print(CSVWriter.record([by, "resource", "priced", "cost", "currency"]), terminator: "")
            for row in rows { print(CSVWriter.record(row), terminator: "") }
            return
        }
        printTable(
            [by, "resource", "priced", "cost", "currency"], rows, emptyMessage: "no costs recorded in that time")
        print(
            "prices waiting for Twilio: \(backlog.waiting)"
                + (backlog.oldestWaiting.map { " (oldest final \(RelativeTime.text(for: $0, now: now)))" } ?? "")
                + "; never published (unknown): \(backlog.unknown)")
    }
}
