import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SwitchboardCore
import SwitchboardEvents
import SwitchboardProcesses
import SwitchboardStore
import SwitchboardWebhook

struct WebhookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook",
        abstract: "Serve Twilio's webhooks: status callbacks, inbound messages (STOP/START/HELP, replies).",
        discussion: """
            Every request is verified with X-Twilio-Signature (the account's auth token) and handled in
            Postgres, so any number of instances can run behind a load balancer. Point Twilio at:
              <public URL>/twilio/messages/status    message status callbacks (workers ask for them)
              <public URL>/twilio/calls/status       call status callbacks
              <public URL>/twilio/messages/inbound   a number's "A message comes in" webhook
            Health: GET /health (process up), GET /ready (database reachable, not draining).
            On SIGTERM it drains: /ready fails, new ConversationRelay sockets are refused, live calls
            may finish within --drain-timeout, the rest are handed off to continue by <Gather> on
            another host; then the server stops.
            LLM voice agents use OPENAI_BASE_URL (default https://api.openai.com/v1) and OPENAI_API_KEY.

            Example:
              export SWITCHBOARD_PUBLIC_URL=https://hooks.example.com SWITCHBOARD_MASTER_KEY=k1:…
              switchboard webhook --port 8080
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var log: LogOptions

    // Without defaults here: a flag given wins over the environment, which wins over the default.
    @Option(help: "Address to listen on (default: 0.0.0.0).") var host: String?
    @Option(help: "Port to listen on (default: 8080).") var port: Int?
    @Option(
        name: .customLong("public-url"),
        help:
            "The base URL Twilio calls, as it sees it (default: $SWITCHBOARD_PUBLIC_URL); signatures are checked over it."
    )
    var publicURL: String?
    @Option(help: "A reply binds to the latest outbound message sent within this window, e.g. 24h, 7d (default: 24h).")
    var replyWindow: String?
    @Option(help: "Answer to STOP and other opt-out keywords ('' for none).") var optOutReply: String?
    @Option(help: "Answer to START/YES/UNSTOP ('' for none).") var optInReply: String?
    @Option(help: "Answer to HELP/INFO ('' for none).") var helpReply: String?
    @Option(
        help: "An LLM agent's budget per turn for the model, retries included, within Twilio's 15 s (default: 8s).")
    var llmDeadline: String?
    @Option(help: "Close a connection that sends nothing (or stops mid-headers) for this long (default: 30s).")
    var idleTimeout: String?
    @Option(help: "A request's body must arrive within this long, else 408 (default: 10s).") var bodyTimeout: String?
    @Option(
        help:
            "At most this many open connections, lowered to fit the descriptor limit; others wait to be accepted (default: 4096)."
    )
    var maxConnections: Int?
    @Option(
        help:
            "On SIGTERM, live voice calls over ConversationRelay may finish within this long; the rest continue by <Gather> on another host (default: 30s)."
    )
    var drainTimeout: String?

    /// Every flag by name, for the settings reader (the environment fills in what is not given).
    var flags: [String: String?] {
        database.flags.merging(log.flags) { $1 }.merging(
            [
                "host": host, "port": port.map(String.init), "public-url": publicURL, "reply-window": replyWindow,
                "opt-out-reply": optOutReply, "opt-in-reply": optInReply, "help-reply": helpReply,
                "llm-deadline": llmDeadline, "idle-timeout": idleTimeout, "body-timeout": bodyTimeout,
                "max-connections": maxConnections.map(String.init), "drain-timeout": drainTimeout,
            ]
        ) { $1 }
    }

    func validate() throws {
        _ = try Self.configuration(Settings(flags: flags))
    }

    /// The settings as a validated configuration; a bad value is a usage error naming its flag or
    /// variable.
    static func configuration(_ settings: Settings) throws -> WebhookConfiguration {
        let publicURL = try settings.baseURL("public-url", default: nil, allowQuery: false)
        if publicURL == nil, settings.text("public-url") == nil {
            try settings.problem(
                "SWITCHBOARD_PUBLIC_URL", "required (or --public-url): the address Twilio uses to reach this process")
        }
        var configuration = WebhookConfiguration(publicURL: publicURL ?? "http://127.0.0.1")
        configuration.host = settings.string("host", default: configuration.host)
        configuration.port = try settings.int("port", default: configuration.port, in: 0...65535)
        configuration.replyWindow = try settings.duration("reply-window", default: configuration.replyWindow)
        // '' is a choice here (no answer), so these read the raw value.
        for (name, reply) in [
            ("opt-out-reply", \WebhookConfiguration.KeywordReplies.optOut), ("opt-in-reply", \.optIn),
            ("help-reply", \.help),
        ] {
            if let value = settings.raw(name) { configuration.replies[keyPath: reply] = value }
        }
        if let base = try settings.baseURL("openai-base-url", prefixed: false, default: nil, allowQuery: true) {
            configuration.llm.baseURL = base.hasSuffix("/") ? String(base.dropLast()) : base
        }
        configuration.llm.apiKey = settings.text("openai-api-key", prefixed: false, secret: true)?.value
        if let secret = settings.text("tool-secret", secret: true) {
            // The parse error names the variable and never repeats the value.
            configuration.toolSecret = try settings.converted(secret, fallback: nil) {
                try WebhookSecret(parsing: $0, field: secret.source)
            }
        }
        if let token = settings.text("dashboard-token", secret: true) {
            if token.value.count < 16 {
                try settings.problem(
                    token.source, "is \(token.value.count) characters; use at least 16 (e.g. openssl rand -hex 16)")
            } else {
                configuration.dashboardToken = token.value
            }
        }
        configuration.llm.turnDeadline = try settings.duration("llm-deadline", default: configuration.llm.turnDeadline)
        if !(Duration.seconds(1)...Duration.seconds(13)).contains(configuration.llm.turnDeadline) {
            try settings.problem(
                settings.text("llm-deadline")?.source ?? "--llm-deadline",
                "must be between 1s and 13s (Twilio waits 15 s for a turn)")
        }
        configuration.limits.idleTimeout = try settings.duration(
            "idle-timeout", default: configuration.limits.idleTimeout)
        configuration.limits.bodyTimeout = try settings.duration(
            "body-timeout", default: configuration.limits.bodyTimeout)
        configuration.limits.maxConnections = try settings.int(
            "max-connections", default: configuration.limits.maxConnections)
        configuration.drainTimeout = try settings.duration("drain-timeout", default: configuration.drainTimeout)
        do { try configuration.validate() } catch let error as InputError {
            let name = error.field.replacingOccurrences(of: "_", with: "-")
            try settings.problem(settings.text(name)?.source ?? "--\(name)", error.problem)
        }
        return configuration
    }

    func run() async throws {
        let settings = Settings(flags: flags)
        let configuration = try Self.configuration(settings)
        let vault = try MasterKey.vault(settings, required: true)!
        let logger = log.makeLogger("switchboard.webhook")
        let descriptors = ConnectionLimits.raiseDescriptorLimit()
        try await database.withPool(settings: settings) { pool in
            try await Migrator(pool: pool).requireUpToDate()
            let process = try WebhookProcess(
                configuration: configuration, pool: pool, accounts: AccountStore(pool: pool, vault: vault),
                logger: logger)
            logger.info(
                "webhook listening",
                metadata: [
                    "address": "\(configuration.host):\(configuration.port)",
                    "public_url": "\(configuration.publicURL)",
                    "llm": "\(configuration.llm.apiKey == nil ? "no OPENAI_API_KEY" : configuration.llm.baseURL)",
                    "dashboard":
                        "\(configuration.dashboardToken == nil ? "off (no SWITCHBOARD_DASHBOARD_TOKEN)" : "/dashboard")",
                    "max_connections": "\(configuration.limits.effectiveMaxConnections)",
                    "descriptor_limit": "\(descriptors.map(String.init) ?? "unlimited")",
                ])
            try await process.run(gracefulShutdownSignals: [.sigterm, .sigint])
        }
    }
}
