import Foundation
import SwitchboardCore
import SwitchboardStore

extension DashboardPages {
    /// A campaign's report (`/dashboard/campaigns/{id}`): the figures `campaign report` prints,
    /// a chart of its messages, replies and clicks over time, and a link to download every
    /// recipient's outcome as CSV. Aggregates only: no recipient's number is on the page. Every
    /// text is escaped.
    static func campaign(_ report: CampaignReport, id: Int64) -> String {
        let messages = report.messages
        var body = "<p><a href=\"/dashboard\">← Dashboard</a></p>"
        body += "<h1>Campaign \(HTML.escape(report.campaign))</h1>"
        body +=
            "<p class=\"meta\">account \(HTML.escape(report.account)) · \(HTML.escape(report.state)) · created \(HTML.escape(CampaignReport.timestamp(report.createdAt)))"
            + (report.finishedAt.map { " · finished \(HTML.escape(CampaignReport.timestamp($0)))" } ?? "")
            + " · <a href=\"/dashboard/campaigns/\(id)/recipients.csv\">every recipient's outcome (CSV)</a></p>"

        body += "<section><h2>Messages</h2>"
        body += table(
            [
                "Recipients", "Not yet sent", "Accepted", "Delivered", "Undelivered", "Failed", "In flight",
                "No message",
            ],
            [
                [
                    "\(report.recipients)", "\(report.notYetSent)", "\(messages.accepted)",
                    "\(messages.delivered) (\(CampaignReport.percent(messages.delivered, of: messages.accepted)))",
                    "\(messages.undelivered) (\(CampaignReport.percent(messages.undelivered, of: messages.accepted)))",
                    "\(messages.failed) (\(CampaignReport.percent(messages.failed, of: messages.accepted)))",
                    "\(messages.inFlight)",
                    "\(report.jobsFailed) failed, \(report.jobsCancelled) cancelled",
                ]
            ], empty: "")
        body += "</section>"

        body += "<section><h2>Engagement and cost</h2>"
        let cost =
            report.cost.isEmpty
            ? "none published yet" : report.cost.map { "\($0.amount) \($0.priceUnit)" }.joined(separator: ", ")
        body += table(
            [
                "Replies", "Opted out", "Clicks", "Previews and bots", "Segments", "Cost", "Prices waiting",
                "Never priced",
            ],
            [
                [
                    "\(report.replies) from \(report.repliers) (\(report.replyRate.map { String(format: "%.2f%%", $0 * 100) } ?? "–"))",
                    "\(report.optedOutDuring)",
                    "\(report.clicks.clicks) by \(report.clicks.uniqueRecipients) (\(report.clicks.clickRate.map { String(format: "%.2f%%", $0 * 100) } ?? "–"))",
                    "\(report.clicks.bots)", "\(report.segments)", cost, "\(report.costWaiting)",
                    "\(report.costUnknown)",
                ]
            ], empty: "")
        body += "</section>"

        let buckets = report.overTime.buckets
        if !buckets.isEmpty {
            let times = buckets.map(\.start)
            func series(_ name: String, _ color: String, _ value: (CampaignReport.Bucket) -> Int64) -> SVGChart.Series {
                SVGChart.Series(
                    name: name, color: color,
                    values: Dictionary(uniqueKeysWithValues: buckets.map { ($0.start, Double(value($0))) }))
            }
            body += "<section><h2>Over time</h2><div class=\"charts\"><div>"
            body += SVGChart.lines(
                [
                    series("accepted", "#2f6fdf", \.accepted), series("delivered", "#2a9d5b", \.delivered),
                    series("undelivered or failed", "#d0453a", \.failed),
                ], minutes: times, unit: "messages per \(report.overTime.bucketSeconds / 60) min")
            body += "</div><div>"
            body += SVGChart.lines(
                [series("replies", "#8a56c2", \.replies), series("clicks", "#e08a1e", \.clicks)], minutes: times,
                unit: "per \(report.overTime.bucketSeconds / 60) min")
            body += "</div></div></section>"
        }

        if !report.errors.isEmpty {
            body += "<section><h2>Errors</h2>"
            body += table(
                ["Code", "Meaning", "Messages"], report.errors.map { ["\($0.code)", $0.meaning, "\($0.messages)"] },
                empty: "")
            body += "</section>"
        }
        body += "<section><h2>Delivery time</h2>"
        body += table(
            ["Span", "Messages", "p50", "p90", "p99"],
            report.timings.map {
                [
                    $0.span, "\($0.messages)", CampaignReport.seconds($0.p50), CampaignReport.seconds($0.p90),
                    CampaignReport.seconds($0.p99),
                ]
            },
            empty: "")
        body += "</section>"
        for (title, rows) in [("By sender", report.bySender), ("By country calling code", report.byCountry)]
        where !rows.isEmpty {
            body += "<section><h2>\(title)</h2>"
            body += table(
                ["", "Accepted", "Delivered", "Failed", "Delivery rate", "Segments", "Cost"],
                rows.map {
                    [
                        $0.key.isEmpty ? "–" : $0.key, "\($0.accepted)", "\($0.delivered)", "\($0.failed)",
                        CampaignReport.percent($0.delivered, of: $0.accepted), "\($0.segments)",
                        $0.cost + ($0.priceUnit.map { " \($0)" } ?? ""),
                    ]
                }, empty: "")
            body += "</section>"
        }
        return document(title: "Campaign \(report.campaign)", body: body, refresh: true)
    }
}
