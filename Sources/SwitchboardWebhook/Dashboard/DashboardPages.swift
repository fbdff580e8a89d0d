import Foundation
import SwitchboardCore
import SwitchboardStore

/// The dashboard's HTML: one overview page and one page per voice session. Recipients' numbers
/// are masked (the last two digits stay); everything dynamic is escaped.
enum DashboardPages {
    struct Overview {
        var queue: [OperationsStore.QueueCount]
        var depth: [DashboardStore.Point]
        var throughput: [DashboardStore.Point]
        var campaigns: [DashboardStore.CampaignProgress]
        var senders: [OperationsStore.SenderLoad]
        /// US A2P 10DLC budgets, and jobs waiting for a carrier's next window.
        var carrierBudgets: [CarrierStore.BudgetStatus] = []
        var carrierHeld: [CarrierStore.HeldJobs] = []
        var failures: [DashboardStore.Failure]
        var sessions: [VoiceSession]
        var live: [VoiceSession] = []
        /// Event webhooks: subscriptions, and deliveries not (yet) made.
        var eventSubscriptions: [EventSubscription] = []
        var eventProblems: [EventDeliveryRecord] = []
        var hours: Int
        var now = Date()
    }

    static let colors = [
        "available": "#2f6fdf", "running": "#e08a00", "completed": "#1a9a4b", "failed": "#d23a3a", "cancelled": "#888",
    ]

    static func overview(_ page: Overview) -> String {
        let minutes = SVGChart.minutes(hours: page.hours, now: page.now)
        func series(_ points: [DashboardStore.Point], _ names: [String]) -> [SVGChart.Series] {
            names.map { name in
                SVGChart.Series(
                    name: name, color: colors[name] ?? "#555",
                    values: Dictionary(
                        points.filter { $0.series == name }.map { ($0.minute, $0.value) }, uniquingKeysWith: +))
            }
        }
        var body = "<h1>Switchboard</h1><p class=\"meta\">Updated \(SVGChart.clock(page.now)) · refreshes every 30 s · "
        body += "<a href=\"?hours=1\">1 h</a> · <a href=\"?hours=6\">6 h</a> · <a href=\"?hours=24\">24 h</a></p>"

        body += "<section><h2>Queue now</h2>"
        body += table(
            ["Queue", "Kind", "State", "Jobs", "Oldest due waiting"],
            page.queue.map {
                [
                    $0.queue, $0.kind, $0.state, "\($0.count)",
                    $0.oldestDueAge.map { String(format: "%.1f s", $0) } ?? "–",
                ]
            }, empty: "Nothing waiting or running.")
        body += "</section>"

        body += "<section class=\"charts\"><div><h2>Queue depth</h2>"
        body += SVGChart.lines(series(page.depth, ["available", "running"]), minutes: minutes, unit: "jobs")
        body += "</div><div><h2>Throughput</h2>"
        body += SVGChart.lines(
            series(page.throughput, ["completed", "failed", "cancelled"]), minutes: minutes, unit: "jobs per minute")
        body += "</div></section>"

        body += "<section><h2>Campaigns</h2>"
        body += table(
            ["Campaign", "State", "Progress", "Sent", "Remaining", "Opted out", "Rate cap"],
            page.campaigns.map { campaign in
                let done = max(0, campaign.recipients - campaign.remaining)
                let share = campaign.recipients == 0 ? 0 : Double(done) / Double(campaign.recipients)
                return [
                    "<a href=\"/dashboard/campaigns/\(campaign.id)\">\(HTML.escape("\(campaign.account)/\(campaign.name)"))</a>",
                    campaign.state,
                    bar(share, label: String(format: "%.0f%%", share * 100)),
                    "\(done)", "\(campaign.remaining)", "\(campaign.optedOut)",
                    campaign.rateCap.map { String(format: "%g/s", $0) } ?? "–",
                ]
            }, empty: "No campaigns this week.", raw: [0, 2])
        body += "</section>"

        body += "<section><h2>Senders</h2>"
        body += table(
            ["Account", "Sender", "Limit", "Sent last minute", "Load", "Booked ahead", "Enabled"],
            page.senders.map {
                [
                    $0.account, $0.address, String(format: "%g/s", $0.rate), "\($0.sentLastMinute)",
                    bar(min(1, $0.utilisation), label: String(format: "%.0f%%", $0.utilisation * 100)),
                    String(format: "%.1f s", $0.bookedAhead), $0.enabled ? "yes" : "no",
                ]
            }, empty: "No senders yet: add them with switchboard numbers add.", raw: [4])
        body += "</section>"

        if !page.carrierBudgets.isEmpty {
            body += "<section><h2>US carrier budgets (A2P 10DLC)</h2>"
            body += table(
                ["Brand", "Campaign", "Carrier", "MPS", "Booked ahead", "Today", "Daily cap", "Waiting"],
                page.carrierBudgets.map { budget in
                    [
                        budget.brand, budget.campaign, budget.carrier, String(format: "%.2f", budget.mps),
                        String(format: "%.1f s", budget.bookedAhead), "\(budget.today)",
                        budget.dailyCap.map(String.init) ?? "–",
                        CarrierStore.HeldJobs.waiting(for: budget.carrier, in: page.carrierHeld),
                    ]
                }, empty: "")
            body += "</section>"
        }

        body += "<section><h2>Recent failures</h2>"
        body += table(
            ["When", "Stage", "Kind", "Job", "Recipient", "Reason"],
            page.failures.map {
                [
                    RelativeTime.text(for: $0.at, now: page.now), $0.stage, $0.kind, $0.jobID.map(String.init) ?? "–",
                    $0.recipient.map(LogRedaction.maskingPhoneNumbers) ?? "–",
                    LogRedaction.maskingPhoneNumbers($0.reason),
                ]
            }, empty: "No failures in the last week.")
        body += "</section>"

        if !page.eventSubscriptions.isEmpty {
            body += "<section><h2>Event webhooks</h2>"
            body += table(
                ["Subscription", "State", "Receiver", "Events", "Waiting", "Failed", "Note"],
                page.eventSubscriptions.map {
                    [
                        "#\($0.id)", $0.state.rawValue, receiverShown($0.url), $0.eventTypes.joined(separator: ", "),
                        "\($0.pending)", "\($0.failed)",
                        $0.pausedReason ?? $0.failingSince.map {
                            "failing since \(RelativeTime.text(for: $0, now: page.now))"
                        }
                            ?? $0.description,
                    ]
                }, empty: "")
            body += table(
                ["Delivery", "Subscription", "Event", "Type", "State", "Attempts", "Last answer", "Next attempt"],
                page.eventProblems.map {
                    [
                        "\($0.id)", "#\($0.subscriptionID)", $0.eventID, $0.type, $0.state.rawValue, "\($0.attempts)",
                        $0.lastStatusCode.map { "HTTP \($0)" } ?? $0.lastError ?? "–",
                        $0.nextAttemptAt.map { SVGChart.clock($0) } ?? "–",
                    ]
                }, empty: "Every event delivered.")
            body += "</section>"
        }

        body += "<section><h2>Live calls</h2>"
        body += table(
            ["Session", "Agent", "To", "Transport", "Turns", "Last said", ""],
            page.live.map {
                [
                    "<a href=\"/dashboard/sessions/\($0.id)\">#\($0.id)</a>", $0.spec.agentType,
                    LogRedaction.maskingPhoneNumbers($0.spec.to), $0.spec.transport?.rawValue ?? "gather", "\($0.turn)",
                    LogRedaction.maskingPhoneNumbers(String(($0.state?.spokenLines.last?.text ?? "–").prefix(80))),
                    "<a href=\"/dashboard/sessions/\($0.id)/live\">watch live</a>",
                ]
            }, empty: "No call in progress.", raw: [0, 6])
        body += "</section>"

        body += "<section><h2>Voice sessions</h2>"
        body += table(
            ["Session", "Agent", "To", "Status", "Outcome", "Turns"],
            page.sessions.map {
                [
                    "<a href=\"/dashboard/sessions/\($0.id)\">#\($0.id)</a>", HTML.escape($0.spec.agentType),
                    HTML.escape(LogRedaction.maskingPhoneNumbers($0.spec.to)), $0.status.rawValue,
                    HTML.escape($0.outcome?.rawValue ?? "–"), "\($0.turn)",
                ]
            }, empty: "No voice sessions yet.", raw: Set(0..<6))
        body += "</section>"
        return document(title: "Switchboard", body: body, refresh: true)
    }

    static func session(_ session: VoiceSession) -> String {
        var body = "<p><a href=\"/dashboard\">← Dashboard</a></p><h1>Voice session #\(session.id)</h1>"
        body += table(
            ["Job", "Agent", "To", "Call", "Status", "Outcome", "Turns"],
            [
                [
                    session.jobID.map(String.init) ?? "–", session.spec.agentType,
                    LogRedaction.maskingPhoneNumbers(session.spec.to), session.callSID ?? "–", session.status.rawValue,
                    session.outcome?.rawValue ?? "–", "\(session.turn)",
                ]
            ], empty: "")
        let answers = session.state?.answers ?? [:]
        if !answers.isEmpty {
            body +=
                "<h2>Answers</h2>"
                + table(
                    ["Question", "Answer"], answers.sorted { $0.key < $1.key }.map { [$0.key, $0.value] }, empty: "")
        }
        if session.status != .ended {
            body += "<p><a href=\"/dashboard/sessions/\(session.id)/live\">Watch live</a></p>"
        }
        body += "<h2>Transcript</h2><div class=\"transcript\">"
        let lines = session.state?.spokenLines ?? []
        if lines.isEmpty { body += "<p>Nothing said yet.</p>" }
        for line in lines {
            body +=
                "<p class=\"\(line.speaker.rawValue)\"><b>\(line.speaker == .agent ? "Agent" : "Caller")</b> "
            body += HTML.escape(line.text) + "</p>"
        }
        body += "</div>"
        return document(title: "Voice session #\(session.id)", body: body, refresh: session.status != .ended)
    }

    /// The live page's start: the session, then the transcript as it grows (`live(_:)`). Padded,
    /// so browsers that wait for a first kilobyte before rendering show it at once.
    static func liveHead(_ session: VoiceSession) -> String {
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            + "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            + "<title>Live: voice session #\(session.id)</title><style>\(style)</style></head><body>"
            + "<p><a href=\"/dashboard/sessions/\(session.id)\">← Session #\(session.id)</a></p>"
            + "<h1>Live: voice session #\(session.id)</h1><p class=\"meta\">"
            + HTML.escape(
                "\(session.spec.agentType) agent · to \(LogRedaction.maskingPhoneNumbers(session.spec.to)) · "
                    + "\(session.spec.transport?.rawValue ?? "gather")")
            + " · new lines appear as they are said</p><div class=\"transcript\">"
            + "<!--" + String(repeating: " ", count: 1024) + "-->\n"
    }

    /// The live page's next lines. An interrupted answer is shown again, cut to what was heard.
    static func live(_ changes: [TranscriptFollower.Change]) -> String {
        changes.map { change in
            switch change {
            case .said(_, let line):
                "<p class=\"\(line.speaker.rawValue)\"><b>\(line.speaker == .agent ? "Agent" : "Caller")</b> "
                    + HTML.escape(LogRedaction.maskingPhoneNumbers(line.text)) + "</p>\n"
            case .revised(_, let line?):
                "<p class=\"revised\"><i>interrupted; the caller heard:</i> "
                    + HTML.escape(LogRedaction.maskingPhoneNumbers(line.text)) + "</p>\n"
            case .revised(_, nil):
                "<p class=\"revised\"><i>interrupted before a word was heard</i></p>\n"
            }
        }.joined()
    }

    /// The live page's end.
    static func liveEnd(_ session: VoiceSession) -> String {
        let state =
            session.status == .ended
            ? "Ended: \(session.outcome?.rawValue ?? "no outcome")."
            : "Still going: reload to keep watching."
        return "</div><p class=\"meta\" id=\"end\">\(HTML.escape(state))</p></body></html>"
    }

    /// A receiver's URL without its query (which may carry a token): scheme, host and path.
    static func receiverShown(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return "(unreadable URL)" }
        let hadQuery = components.query != nil
        components.query = nil
        components.user = nil
        components.password = nil
        return (components.string ?? "(unreadable URL)") + (hadQuery ? "?…" : "")
    }

    /// Cells are escaped unless their column is in `raw` (already HTML).
    static func table(_ headers: [String], _ rows: [[String]], empty: String, raw: Set<Int> = []) -> String {
        guard !rows.isEmpty else { return "<p class=\"empty\">\(HTML.escape(empty))</p>" }
        var html =
            "<table><thead><tr>" + headers.map { "<th>\(HTML.escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        for row in rows {
            html +=
                "<tr>" + row.enumerated().map { "<td>\(raw.contains($0) ? $1 : HTML.escape($1))</td>" }.joined()
                + "</tr>"
        }
        return html + "</tbody></table>"
    }

    static func bar(_ share: Double, label: String) -> String {
        let percent = Int((max(0, min(1, share)) * 100).rounded())
        return "<div class=\"bar\"><span style=\"width:\(percent)%\"></span></div> \(HTML.escape(label))"
    }

    static func document(title: String, body: String, refresh: Bool) -> String {
        """
        <!doctype html><html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        \(refresh ? "<meta http-equiv=\"refresh\" content=\"30\">" : "")
        <title>\(HTML.escape(title))</title><style>\(style)</style></head><body>\(body)</body></html>
        """
    }

    static let style = """
        body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2430;background:#f7f8fa}
        h1{font-size:22px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 6px}
        .meta{color:#667;margin:0 0 12px}section{background:#fff;border:1px solid #e2e5ea;border-radius:6px;padding:4px 14px 12px;margin:0 0 14px}
        table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3;white-space:nowrap}
        th{font-weight:600;color:#556;font-size:12px;text-transform:uppercase}td:last-child{white-space:normal}
        .charts{display:grid;grid-template-columns:1fr 1fr;gap:16px}.chart{width:100%;height:auto}
        .axis{stroke:#99a}.grid{stroke:#e6e8ec}.label{font-size:10px;fill:#667}
        .legend{font-size:12px;color:#556}.key{margin-right:12px}.key i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
        .bar{display:inline-block;width:120px;height:8px;background:#e8ebf0;border-radius:4px;vertical-align:middle}
        .bar span{display:block;height:8px;background:#2f6fdf;border-radius:4px}
        .empty{color:#889}.transcript p{margin:4px 0}.transcript .caller{margin-left:24px;color:#234}
        .transcript .revised{color:#a55;margin-left:12px}
        """
}
