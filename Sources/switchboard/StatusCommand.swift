import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardStore

/// What an operator looks at first: is work piling up, is it flowing, which senders are busy,
/// what is Twilio refusing.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract:
            "Queue depth per state and kind, throughput of the last minute, per-sender load, failing error codes.",
        discussion: """
            Examples:
              switchboard status
              switchboard status --json | jq '.queue'
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    struct Report: Encodable {
        var queue: [OperationsStore.QueueCount]
        var finishedLastMinute: [OperationsStore.FinishedCount]
        var senders: [OperationsStore.SenderLoad]
        var errorCodesLastHour: [OperationsStore.ErrorCount]
        var carrierBudgets: [CarrierStore.BudgetStatus]
        var carrierHeld: [CarrierStore.HeldJobs]
        var voiceSessionsActive: Int
        var prices: PriceBacklog
        var queueTable: OperationsStore.QueueHealth
        var warnings: [String]
    }

    func run() async throws {
        let report = try await database.withPool { pool in
            let operations = OperationsStore(pool: pool)
            let carriers = CarrierStore(pool: pool)
            let health = try await operations.queueHealth()
            return Report(
                queue: try await operations.queueCounts(), finishedLastMinute: try await operations.finished(),
                senders: try await operations.senderLoad(), errorCodesLastHour: try await operations.errorCodes(),
                carrierBudgets: try await carriers.budgets(),
                carrierHeld: try await carriers.held(),
                voiceSessionsActive: try await operations.activeVoiceSessions(),
                prices: try await PriceStore(pool: pool).backlog(), queueTable: health,
                warnings: health.warnings)
        }
        if output.json { return try printJSON(report) }
        print("Queue (unfinished jobs)")
        printTable(
            ["queue", "kind", "state", "jobs", "oldest due waiting"],
            report.queue.map {
                [
                    $0.queue, $0.kind, $0.state, $0.approximate ? "~\($0.count)" : "\($0.count)",
                    $0.oldestDueAge.map { String(format: "%.1fs", $0) } ?? "-",
                ]
            }, emptyMessage: "  empty: nothing waiting or running")
        print("\nFinished in the last minute")
        printTable(
            ["kind", "state", "jobs", "per second"],
            report.finishedLastMinute.map {
                [$0.kind, $0.state, "\($0.count)", String(format: "%.1f", Double($0.count) / 60)]
            },
            emptyMessage: "  nothing finished")
        print("\nSenders")
        printTable(
            ["account", "sender", "limit/s", "sent last min", "load", "booked ahead", "enabled"],
            report.senders.map {
                [
                    $0.account, $0.address, String(format: "%g", $0.rate), "\($0.sentLastMinute)",
                    String(format: "%.0f%%", $0.utilisation * 100), String(format: "%.1fs", $0.bookedAhead),
                    $0.enabled ? "yes" : "no",
                ]
            }, emptyMessage: "  no senders (add them with `switchboard numbers add`)")
        if !report.carrierBudgets.isEmpty {
            print("\nUS carrier budgets (A2P 10DLC)")
            printCarrierBudgets(report.carrierBudgets, held: report.carrierHeld)
        }
        print("\nTwilio error codes in the last hour")
        printTable(
            ["stage", "code", "count", "meaning"],
            report.errorCodesLastHour.map {
                [
                    $0.stage, "\($0.code)", "\($0.count)",
                    TwilioErrorClassification.summary(forCode: $0.code)
                        ?? "https://www.twilio.com/docs/api/errors/\($0.code)",
                ]
            },
            emptyMessage: "  none")
        print("\nVoice sessions active: \(report.voiceSessionsActive)")
        print(
            "Prices: \(report.prices.waiting) waiting for Twilio"
                + (report.prices.oldestWaiting.map { " (oldest final \(RelativeTime.text(for: $0, now: Date())))" }
                    ?? "")
                + ", \(report.prices.unknown) never published (kept 30 days)")
        let table = report.queueTable
        print(
            "\nQueue table: \(table.liveTuples) live rows, \(table.deadTuples) dead, oldest open transaction "
                + String(format: "%.0fs", table.oldestTransactionAge))
        for warning in report.warnings { print("warning: " + warning) }
    }
}
