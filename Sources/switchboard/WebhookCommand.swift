import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SwitchboardCore
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
            Health: GET /health (process up), GET /ready (database reachable).
            LLM voice agents use OPENAI_BASE_URL (default https://api.openai.com/v1) and OPENAI_API_KEY.

            Example:
              export SWITCHBOARD_PUBLIC_URL=https://hooks.example.com SWITCHBOARD_MASTER_KEY=k1:…
              switchboard webhook --port 8080
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var log: LogOptions

    @Option(help: "Address to listen on.") var host = "0.0.0.0"
    @Option(help: "Port to listen on.") var port = 8080
    @Option(
        name: .customLong("public-url"),
        help:
            "The base URL Twilio calls, as it sees it (default: $SWITCHBOARD_PUBLIC_URL); signatures are checked over it."
    )
    var publicURL: String?
    @Option(help: "A reply binds to the latest outbound message sent within this window (e.g. 24h, 7d).")
    var replyWindow = "24h"
    @Option(help: "Answer to STOP and other opt-out keywords ('' for none).") var optOutReply: String?
    @Option(help: "Answer to START/YES/UNSTOP ('' for none).") var optInReply: String?
    @Option(help: "Answer to HELP/INFO ('' for none).") var helpReply: String?
    @Option(help: "An LLM agent's budget per turn for the model, retries included (well inside Twilio's 15 s).")
    var llmDeadline = "8s"
    @Option(help: "Close a connection that sends nothing (or stops mid-headers) for this long.")
    var idleTimeout = "30s"
    @Option(help: "A request's body must arrive within this long (else 408).") var bodyTimeout = "10s"
    @Option(
        help: "At most this many open connections (lowered to fit the descriptor limit); others wait to be accepted.")
    var maxConnections = 4096

    func validate() throws {
        _ = try webhookConfiguration()
    }

    func webhookConfiguration() throws -> WebhookConfiguration {
        guard
            let url = publicURL
                ?? ProcessInfo.processInfo.environment["SWITCHBOARD_PUBLIC_URL"].flatMap({
                    $0.isEmpty ? nil : $0
                })
        else {
            throw ValidationError(
                "SWITCHBOARD_PUBLIC_URL (or --public-url) is required: the address Twilio uses to reach this process")
        }
        var configuration = WebhookConfiguration(publicURL: url)
        configuration.host = host
        configuration.port = port
        configuration.replyWindow = try parseDuration(replyWindow, flag: "--reply-window")
        if let optOutReply { configuration.replies.optOut = optOutReply }
        if let optInReply { configuration.replies.optIn = optInReply }
        if let helpReply { configuration.replies.help = helpReply }
        let environment = ProcessInfo.processInfo.environment
        if let base = environment["OPENAI_BASE_URL"], !base.isEmpty {
            guard HTTPURL.isValidBase(base, allowQuery: true) else {
                throw ValidationError("OPENAI_BASE_URL: '\(base)' is not an http(s) URL")
            }
            configuration.llm.baseURL = base.hasSuffix("/") ? String(base.dropLast()) : base
        }
        configuration.llm.apiKey = environment["OPENAI_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        // A secret: from the environment only (flags show up in process lists).
        configuration.dashboardToken = environment["SWITCHBOARD_DASHBOARD_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.llm.turnDeadline = try parseDuration(llmDeadline, flag: "--llm-deadline")
        configuration.limits.idleTimeout = try parseDuration(idleTimeout, flag: "--idle-timeout")
        configuration.limits.bodyTimeout = try parseDuration(bodyTimeout, flag: "--body-timeout")
        configuration.limits.maxConnections = maxConnections
        guard configuration.llm.turnDeadline >= .seconds(1), configuration.llm.turnDeadline <= .seconds(13) else {
            throw ValidationError("--llm-deadline must be between 1s and 13s (Twilio waits 15 s for a turn)")
        }
        do { try configuration.validate() } catch let error as InputError {
            throw ValidationError(
                error.field == "SWITCHBOARD_PUBLIC_URL"
                    ? "--public-url / \(error.description)"
                    : error.field.hasPrefix("SWITCHBOARD_") ? error.description : "--\(error.description)")
        }
        return configuration
    }

    func run() async throws {
        let configuration = try webhookConfiguration()
        let vault = try masterKey()
        let logger = log.makeLogger("switchboard.webhook")
        let descriptors = ConnectionLimits.raiseDescriptorLimit()
        try await database.withPool { pool in
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
