import Foundation
import SwitchboardCore
import SwitchboardEvents
import SwitchboardStore

/// Settings of `switchboard webhook`.
public struct WebhookConfiguration: Sendable {
    /// Address and port to listen on (port 0: any free port).
    public var host = "127.0.0.1"
    public var port = 8080
    /// The base URL Twilio uses to reach this process (`SWITCHBOARD_PUBLIC_URL`), e.g.
    /// `https://hooks.example.com`. Signatures are computed over it plus the request's path and
    /// query, so behind a proxy it must be the public address, including any path prefix the
    /// proxy removes.
    public var publicURL: String
    /// Larger request bodies are refused with 413 (Twilio's webhooks are a few kilobytes).
    public var maxBodyBytes = 64 * 1024
    /// An inbound message counts as a reply to the latest outbound message to its sender from the
    /// same number or pool sent within this window.
    public var replyWindow: Duration = .seconds(24 * 3600)
    /// How long after a final status a message's or call's price is first asked for (the workers'
    /// pricer asks; Twilio publishes prices some time after sending).
    public var firstPriceCheck: Duration = StatusStore.defaultFirstPriceCheck
    public var replies = KeywordReplies()
    /// The model LLM voice agents talk with.
    public var llm = LLMConfiguration()
    /// Signs LLM agents' `http` tool calls (`SWITCHBOARD_TOOL_SECRET`, whsec_…); without it those
    /// tools are unavailable.
    public var toolSecret: WebhookSecret?
    /// How often a webhook process ends voice sessions left running past their time limit.
    public var sessionSweepInterval: Duration = .seconds(60)
    /// `SWITCHBOARD_DASHBOARD_TOKEN`: serve /dashboard to whoever gives it (never printed). Without
    /// one, there is no dashboard.
    public var dashboardToken: String?
    /// How often the queue depth is sampled for the dashboard's history.
    public var queueSampleInterval: Duration = .seconds(60)
    /// Idle and body timeouts, and the cap on open connections.
    public var limits = ConnectionLimits()
    /// `/ready` answers 503 when the database does not answer within this long.
    public var readinessTimeout: Duration = .seconds(1)
    /// On shutdown, live ConversationRelay calls may finish within this long; the rest are handed
    /// off and continue by `<Gather>` on another host (`RelayDrain`).
    public var drainTimeout: Duration = .seconds(30)

    /// Answers to keyword messages (empty: answer nothing). With Twilio's default opt-out handling
    /// on a long code, Twilio also answers STOP/START/HELP itself: set these empty there.
    public struct KeywordReplies: Sendable, Equatable {
        public var optOut =
            "You have been unsubscribed and will not receive more messages from this number. Reply START to resubscribe."
        public var optIn =
            "You have been resubscribed to messages from this number. Reply STOP to unsubscribe, HELP for help."
        public var help = "Reply STOP to unsubscribe. Msg & data rates may apply."
        public init() {}
    }

    public init(publicURL: String) {
        self.publicURL = publicURL
    }

    /// The public URL without a trailing slash.
    var base: String { publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL }

    public func validate() throws {
        guard HTTPURL.isValidBase(publicURL) else {
            throw InputError(
                field: "SWITCHBOARD_PUBLIC_URL",
                problem: "'\(publicURL)' is not an http(s) URL without a query (the address Twilio calls)")
        }
        guard (0...65535).contains(port) else { throw InputError(field: "port", problem: "\(port) is not a port") }
        guard maxBodyBytes >= 1024 else {
            throw InputError(field: "max_body_bytes", problem: "\(maxBodyBytes) is below 1024")
        }
        try limits.validate()
        guard replyWindow > .zero else { throw InputError(field: "reply_window", problem: "must be positive") }
        guard drainTimeout >= .zero else { throw InputError(field: "drain_timeout", problem: "must not be negative") }
        if let dashboardToken, dashboardToken.count < 16 {
            throw InputError(
                field: "SWITCHBOARD_DASHBOARD_TOKEN",
                problem: "is \(dashboardToken.count) characters; use at least 16 (e.g. openssl rand -hex 16)")
        }
    }
}
