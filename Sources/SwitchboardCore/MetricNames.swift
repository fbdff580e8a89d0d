/// The names of the metrics Switchboard's libraries record through swift-metrics, with the
/// dimensions each takes, in one place so that no module misspells one. The process's backend
/// (`SwitchboardMetrics`) describes each (HELP text, type, buckets) and the README lists them.
public enum MetricNames {
    // Worker: dimensions kind, outcome (completed, failed, retried, snoozed, cancelled,
    // outcome_unknown, interrupted); and kind.
    public static let jobs = "switchboard_jobs_total"
    public static let jobDuration = "switchboard_job_duration_seconds"
    // Sending: channel; pool (twice); none.
    public static let sendLatency = "switchboard_send_latency_seconds"
    public static let rateLimitWait = "switchboard_rate_limit_wait_seconds"
    public static let rateLimitSaturated = "switchboard_rate_limit_saturated_total"
    public static let rateLimitMissed = "switchboard_rate_limit_missed_slots_total"
    public static let sendsFenced = "switchboard_sends_fenced_total"
    // Carrier pacing (A2P 10DLC): carrier, cap (per_minute, per_day); carrier.
    public static let carrierHeld = "switchboard_carrier_held_total"
    public static let carrierSlotMissed = "switchboard_carrier_missed_slots_total"
    // Twilio client: operation, status; code.
    public static let twilioRequestDuration = "switchboard_twilio_request_duration_seconds"
    public static let twilioErrors = "switchboard_twilio_errors_total"
    // Webhook: route, status; outcome; type.
    public static let webhookRequestDuration = "switchboard_webhook_request_duration_seconds"
    public static let llmRequestDuration = "switchboard_llm_request_duration_seconds"
    public static let llmTokens = "switchboard_llm_tokens_total"
    // Event webhooks: outcome (delivered, failed, retried, gone).
    public static let eventDeliveries = "switchboard_event_delivery_attempts_total"
    public static let eventDeliveryDuration = "switchboard_event_delivery_duration_seconds"
    // Pricing: resource, outcome (priced, waiting, unknown, error).
    public static let priceChecks = "switchboard_price_checks_total"
}
