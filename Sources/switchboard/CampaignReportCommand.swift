import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardStore

extension CampaignCommand {
    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "What a campaign did: deliveries, errors, replies, opt-outs, clicks, cost, timing, by sender, country and time.",
            discussion: """
                Examples:
                  switchboard campaign report --account main --name spring
                  switchboard campaign report --account main --name spring --json
                  switchboard campaign report --account main --name spring --csv > spring-report.csv
                  switchboard campaign report --account main --name spring --recipients --csv > spring-recipients.csv
                --recipients streams every recipient's outcome (millions of rows) in import order.
                """)
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var target: CampaignCommand.Target
        @Flag(help: "Print JSON instead of a table.") var json = false
        @Flag(help: "Print CSV (section,key,metric,value; with --recipients one row per recipient).") var csv = false
        @Flag(help: "Every recipient's outcome (needs --csv).") var recipients = false

        func validate() throws {
            if json, csv { throw ValidationError("--json and --csv: choose one") }
            if recipients, !csv { throw ValidationError("--recipients: give --csv too (one row per recipient)") }
        }

        func run() async throws {
            if recipients {
                return try await database.withPool { pool in
                    let campaign = try await target.campaign(pool)
                    try await Self.exportRecipients(campaignID: campaign.id, store: CampaignReportStore(pool: pool))
                }
            }
            let report = try await database.withPool { pool in
                let campaign = try await target.campaign(pool)
                guard let report = try await CampaignReportStore(pool: pool).report(campaignID: campaign.id) else {
                    throw CommandFailure("campaign '\(target.name)' is gone")
                }
                return report
            }
            if json { return try printJSON(report) }
            if csv {
                for row in report.csvRows { print(CSVWriter.record(row), terminator: "") }
                return
            }
            Self.printReport(report)
        }

        static func exportRecipients(campaignID: Int64, store: CampaignReportStore) async throws {
            try await store.recipientsCSV(campaignID: campaignID) { FileHandle.standardOutput.write(Data($0.utf8)) }
        }

        static func timestamp(_ date: Date?) -> String { CampaignReport.timestamp(date) }

        static func printReport(_ report: CampaignReport) {
            let messages = report.messages
            print(
                "campaign \(report.campaign) (account \(report.account)): \(report.state), created \(timestamp(report.createdAt))"
                    + (report.finishedAt.map { ", finished \(timestamp($0))" } ?? ""))
            print(
                "recipients \(report.recipients) (and \(report.skippedOptedOut) skipped at import as opted out); "
                    + "not yet sent \(report.notYetSent); jobs failed without a message \(report.jobsFailed), cancelled \(report.jobsCancelled)"
            )
            print("")
            printTable(
                ["messages", "accepted", "delivered", "undelivered", "failed", "in flight"],
                [
                    [
                        "", String(messages.accepted), String(messages.delivered), String(messages.undelivered),
                        String(messages.failed), String(messages.inFlight),
                    ],
                    [
                        "% of accepted", "", CampaignReport.percent(messages.delivered, of: messages.accepted),
                        CampaignReport.percent(messages.undelivered, of: messages.accepted),
                        CampaignReport.percent(messages.failed, of: messages.accepted), "",
                    ],
                ])
            if !report.errors.isEmpty {
                print("")
                printTable(
                    ["error", "meaning", "messages"],
                    report.errors.map { [String($0.code), $0.meaning, String($0.messages)] })
            }
            print("")
            print(
                "replies \(report.replies) from \(report.repliers) recipients (\(report.replyRate.map { String(format: "%.2f%%", $0 * 100) } ?? "-") of delivered); "
                    + "opted out during the campaign \(report.optedOutDuring)")
            print(
                "clicks \(report.clicks.clicks) by \(report.clicks.uniqueRecipients) recipients (\(report.clicks.clickRate.map { String(format: "%.2f%%", $0 * 100) } ?? "-") of delivered); "
                    + "bots and link previews \(report.clicks.bots)")
            let cost =
                report.cost.isEmpty
                ? "none published yet"
                : report.cost.map { "\($0.amount) \($0.priceUnit) (\($0.messages) priced)" }.joined(
                    separator: ", ")
            print(
                "segments \(report.segments); cost \(cost); waiting for Twilio's price \(report.costWaiting), never published \(report.costUnknown)"
            )
            print("")
            printTable(
                ["timing", "messages", "p50", "p90", "p99"],
                report.timings.map {
                    [
                        $0.span, String($0.messages), CampaignReport.seconds($0.p50), CampaignReport.seconds($0.p90),
                        CampaignReport.seconds($0.p99),
                    ]
                })
            for (title, breakdowns) in [("sender", report.bySender), ("country code", report.byCountry)]
            where !breakdowns.isEmpty {
                print("")
                printTable(
                    [title, "accepted", "delivered", "failed", "delivery rate", "segments", "cost"],
                    breakdowns.map {
                        [
                            $0.key.isEmpty ? "-" : $0.key, String($0.accepted), String($0.delivered), String($0.failed),
                            CampaignReport.percent($0.delivered, of: $0.accepted), String($0.segments),
                            $0.cost + ($0.priceUnit.map { " \($0)" } ?? ""),
                        ]
                    })
            }
            if !report.overTime.buckets.isEmpty {
                print("")
                printTable(
                    [
                        "from (\(report.overTime.bucketSeconds / 60) min)", "accepted", "delivered", "failed",
                        "replies", "clicks",
                    ],
                    report.overTime.buckets.map {
                        [
                            timestamp($0.start), String($0.accepted), String($0.delivered), String($0.failed),
                            String($0.replies), String($0.clicks),
                        ]
                    })
            }
        }
    }
}
