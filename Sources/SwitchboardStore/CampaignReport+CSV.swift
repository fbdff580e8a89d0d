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
        [
            recipient, String(line), importStatus, messageSID ?? "", messageStatus ?? "",
            errorCode.map(String.init) ?? "", errorCode.flatMap(TwilioErrorClassification.summary(forCode:)) ?? "",
            segments.map(String.init) ?? "", price ?? "", priceUnit ?? "", CampaignReport.timestamp(acceptedAt),
            CampaignReport.timestamp(sentAt), CampaignReport.timestamp(deliveredAt), String(replies),
            optedOut ? "true" : "false", String(clicks),
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
        var rows: [[String]] = [["section", "key", "metric", "value"]]
        func add(_ section: String, _ key: String, _ metric: String, _ value: String) {
            rows.append([section, key, metric, value])
        }
        let summary: [(String, String)] = [
            ("recipients", String(recipients)), ("skipped_opted_out", String(skippedOptedOut)),
            ("not_yet_sent", String(notYetSent)), ("jobs_failed", String(jobsFailed)),
            ("jobs_cancelled", String(jobsCancelled)), ("accepted", String(messages.accepted)),
            ("delivered", String(messages.delivered)),
            ("undelivered", String(messages.undelivered)), ("failed", String(messages.failed)),
            ("in_flight", String(messages.inFlight)), ("opted_out_during", String(optedOutDuring)),
            ("replies", String(replies)), ("repliers", String(repliers)),
            ("clicks", String(clicks.clicks)), ("clickers", String(clicks.uniqueRecipients)),
            ("bot_clicks", String(clicks.bots)), ("segments", String(segments)),
            ("cost_waiting", String(costWaiting)), ("cost_unknown", String(costUnknown)),
        ]
        for (metric, value) in summary { add("summary", campaign, metric, value) }
        for line in cost {
            add("cost", line.priceUnit, "amount", line.amount)
            add("cost", line.priceUnit, "messages", String(line.messages))
        }
        for error in errors {
            add("errors", String(error.code), "messages", String(error.messages))
            add("errors", String(error.code), "meaning", error.meaning)
        }
        for timing in timings {
            for (metric, value) in [("p50_s", timing.p50), ("p90_s", timing.p90), ("p99_s", timing.p99)] {
                add("timing", timing.span, metric, value.map { String(format: "%.3f", $0) } ?? "")
            }
        }
        for (section, breakdowns) in [("sender", bySender), ("country", byCountry)] {
            for item in breakdowns {
                add(section, item.key, "accepted", String(item.accepted))
                add(section, item.key, "delivered", String(item.delivered))
                add(section, item.key, "failed", String(item.failed))
                add(section, item.key, "segments", String(item.segments))
                add(section, item.key, "cost", item.cost)
            }
        }
        for bucket in overTime.buckets {
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

extension CampaignReportStore {
    /// The recipients' export as CSV text: the header, then each batch's rows, handed to `write`
    /// as the cursor yields them (`campaign report --recipients --csv`, the dashboard's download).
    public func recipientsCSV(campaignID id: Int64, _ write: @Sendable (String) async throws -> Void) async throws {
        try await write(CSVWriter.record(RecipientOutcome.csvHeader))
        try await recipients(campaignID: id) { batch in
            try await write(batch.map { CSVWriter.record($0.csvFields) }.joined())
        }
    }
}

extension CampaignReport {
    /// "12.5%" of a whole, "-" of nothing (tables and the dashboard).
    public static func percent(_ part: Int64, of whole: Int64) -> String {
        whole > 0 ? String(format: "%.1f%%", Double(part) * 100 / Double(whole)) : "-"
    }

    /// A duration in seconds as tables show it: "2.35 s", "41 s", "-" for none.
    public static func seconds(_ value: Double?) -> String {
        guard let value else { return "-" }
        return value < 10 ? String(format: "%.2f s", value) : String(format: "%.0f s", value)
    }
}
