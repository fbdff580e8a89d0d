/// Every metric Switchboard exports, in one place (the README's metrics table lists them).
/// Processes serve `registry.exposition()`; families a process does not use stay empty.
public enum SwitchboardMetrics {
    public static let registry = MetricsRegistry()

    /// The exposition with every family listed (static members are created on first use, so a
    /// process that never sent anything still declares what it can report).
    public static func exposition() -> String {
        _ = registered
        return registry.exposition()
    }

    /// Touches every family once, in this order.
    private static let registered: [any Sendable] = [
        jobs, jobDuration, sendLatency, rateLimitWait, rateLimitSaturated, rateLimitMissed, sendsFenced,
        twilioRequestDuration,
        twilioErrors,
        queueJobs, queueOldestAvailableAge, voiceSessionsActive, scrapeErrors, webhookRequestDuration,
        llmRequestDuration, llmTokens,
    ]

    /// Latency buckets in seconds: 1 ms … 60 s.
    static let latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
    /// Waiting buckets in seconds: 10 ms … 1 h (rate-limit slots can be far ahead).
    static let waitBuckets = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600]

    // MARK: worker

    public static let jobs = registry.counter(
        "switchboard_jobs_total", help: "Job attempts finished by this process, by kind and outcome.",
        labels: ["kind", "outcome"])
    public static let jobDuration = registry.histogram(
        "switchboard_job_duration_seconds", help: "How long one job attempt ran in this process, by kind.",
        labels: ["kind"], buckets: latencyBuckets)
    public static let sendLatency = registry.histogram(
        "switchboard_send_latency_seconds",
        help: "From the start of a send attempt to Twilio accepting it (rate-limit wait included), by channel.",
        labels: ["channel"], buckets: latencyBuckets)
    public static let rateLimitWait = registry.histogram(
        "switchboard_rate_limit_wait_seconds",
        help: "How far ahead the booked send slot was when a message was booked, by pool ('' for a single number).",
        labels: ["pool"], buckets: waitBuckets)
    public static let rateLimitSaturated = registry.counter(
        "switchboard_rate_limit_saturated_total",
        help: "Bookings that found every sender booked out beyond the horizon, by pool.", labels: ["pool"])
    public static let rateLimitMissed = registry.counter(
        "switchboard_rate_limit_missed_slots_total",
        help:
            "Slots kept across a snooze that had passed when the job was claimed again (and were booked anew), by pool ('campaign' for a campaign cap, 'calls' for calls per second).",
        labels: ["pool"])
    public static let sendsFenced = registry.counter(
        "switchboard_sends_fenced_total",
        help:
            "Sends not started because the job's lease might expire before the Twilio request would end (heartbeats not getting through); retried shortly.",
        labels: [])

    // MARK: Twilio

    public static let twilioRequestDuration = registry.histogram(
        "switchboard_twilio_request_duration_seconds",
        help: "Twilio REST requests by operation and HTTP status ('error' when no response arrived).",
        labels: ["operation", "status"], buckets: latencyBuckets)
    public static let twilioErrors = registry.counter(
        "switchboard_twilio_errors_total", help: "Twilio error codes returned to requests, by code.", labels: ["code"])

    // MARK: queue (read from PostgreSQL when scraped)

    public static let queueJobs = registry.gauge(
        "switchboard_queue_jobs", help: "Unfinished jobs by queue, kind and state (available includes scheduled).",
        labels: ["queue", "kind", "state"])
    public static let queueOldestAvailableAge = registry.gauge(
        "switchboard_queue_oldest_available_age_seconds",
        help: "How long the oldest due, unclaimed job of each queue has been waiting.", labels: ["queue"])
    public static let voiceSessionsActive = registry.gauge(
        "switchboard_voice_sessions_active", help: "Voice-agent sessions not yet ended.")
    public static let scrapeErrors = registry.counter(
        "switchboard_metrics_scrape_errors_total", help: "Scrapes whose database readings failed.")

    // MARK: webhook

    public static let webhookRequestDuration = registry.histogram(
        "switchboard_webhook_request_duration_seconds",
        help: "Requests served by the webhook process, by route and HTTP status.",
        labels: ["route", "status"], buckets: latencyBuckets)
    public static let llmRequestDuration = registry.histogram(
        "switchboard_llm_request_duration_seconds",
        help: "Chat-completion requests of LLM voice agents, by outcome (ok, error, timeout).",
        labels: ["outcome"], buckets: latencyBuckets)
    public static let llmTokens = registry.counter(
        "switchboard_llm_tokens_total", help: "Tokens used by LLM voice agents, by type (prompt, completion).",
        labels: ["type"])
}
