import Foundation
import SwitchboardCore

/// The CSV forms of a campaign report (`--csv`) and of its recipients' outcomes (`--recipients
/// --csv`, the dashboard's download): written with `CSVWriter`, so a standard reader parses them
/// and spreadsheets do not run what looks like a formula.
extension RecipientOutcome {
    public static let csvHeader = [
        "recipient", "line", "import_status", "message_sid", "message_status", "error_code", "error_meaning",
        "segments", "price", "price_unit", "accepted_at", "sent_at", "delivered_at", "replies", "opted_out",
        "clicks",
    ]

    public var csvFields: [String] {
        let outcome = self
        return [
            outcome.recipient, String(outcome.line), outcome.importStatus, outcome.messageSID ?? "",
            outcome.messageStatus ?? "", outcome.errorCode.map(String.init) ?? "",
            outcome.errorCode.flatMap(TwilioErrorClassification.summary(forCode:)) ?? "",
            outcome.segments.map(String.init) ?? "", outcome.price ?? "", outcome.priceUnit ?? "",
            CampaignReport.timestamp(outcome.acceptedAt), CampaignReport.timestamp(outcome.sentAt),
            CampaignReport.timestamp(outcome.deliveredAt), String(outcome.replies), outcome.optedOut ? "true" : "false",
            String(outcome.clicks),
        ]
    }
}

extension CampaignReport {
    /// ISO 8601 in UTC with milliseconds ("2026-12-06T13:20:46.853Z"); empty for none.
    public static func timestamp(_ date: Date?) -> String {
        date.map { $0.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)) } ?? ""
    }

    /// The report as tidy rows: section, key, metric, value.
    public var csvRows: [[String]] {
        let report = self
        var rows: [[String]] = [["section", "key", "metric", "value"]]
        func add(_ section: String, _ key: String, _ metric: String, _ value: String) {
            rows.append([section, key, metric, value])
        }
        let summary: [(String, String)] = [
            ("recipients", String(report.recipients)), ("skipped_opted_out", String(report.skippedOptedOut)),
            ("not_yet_sent", String(report.notYetSent)), ("jobs_failed", String(report.jobsFailed)),
            ("jobs_cancelled", String(report.jobsCancelled)), ("accepted", String(report.messages.accepted)),
            ("delivered", String(report.messages.delivered)),
            ("undelivered", String(report.messages.undelivered)), ("failed", String(report.messages.failed)),
            ("in_flight", String(report.messages.inFlight)), ("opted_out_during", String(report.optedOutDuring)),
            ("replies", String(report.replies)), ("repliers", String(report.repliers)),
            ("clicks", String(report.clicks.clicks)), ("clickers", String(report.clicks.uniqueRecipients)),
            ("bot_clicks", String(report.clicks.bots)), ("segments", String(report.segments)),
            ("cost_waiting", String(report.costWaiting)), ("cost_unknown", String(report.costUnknown)),
        ]
        for (metric, value) in summary { add("summary", report.campaign, metric, value) }
        for line in report.cost {
            add("cost", line.priceUnit, "amount", line.amount)
            add("cost", line.priceUnit, "messages", String(line.messages))
        }
        for error in report.errors {
            add("errors", String(error.code), "messages", String(error.messages))
            add("errors", String(error.code), "meaning", error.meaning)
        }
        for timing in report.timings {
            for (metric, value) in [("p50_s", timing.p50), ("p90_s", timing.p90), ("p99_s", timing.p99)] {
                add("timing", timing.span, metric, value.map { String(format: "%.3f", $0) } ?? "")
            }
        }
        for (section, breakdowns) in [("sender", report.bySender), ("country", report.byCountry)] {
            for item in breakdowns {
                add(section, item.key, "accepted", String(item.accepted))
                add(section, item.key, "delivered", String(item.delivered))
                add(section, item.key, "failed", String(item.failed))
                add(section, item.key, "segments", String(item.segments))
                add(section, item.key, "cost", item.cost)
            }
        }
        for bucket in report.overTime.buckets {
            let key = Self.timestamp(bucket.start)
            add("time", key, "accepted", String(bucket.accepted))
            add("time", key, "delivered", String(bucket.delivered))
            add("time", key, "failed", String(bucket.failed))
            add("time", key, "replies", String(bucket.replies))
            add("time", key, "clicks", String(bucket.clicks))
        }
        return rows
    }

}
