import CoreMetrics
import SwitchboardCore
import Synchronization

/// The process's metrics backend: every family Switchboard exports, with its HELP text, in one
/// registry, behind swift-metrics' `MetricsFactory`. The libraries (worker, sending, Twilio,
/// webhook) record through the swift-metrics API (`Counter`, `Timer`) under `MetricNames`; the
/// process bootstraps this backend and serves `exposition()` (the README's metrics table lists the
/// families; `promtool check metrics` accepts the text). A record under a name the catalogue does
/// not know becomes a family of its own, so nothing recorded is lost.
public final class SwitchboardMetrics: MetricsFactory, Sendable {
    public let registry = MetricsRegistry()

    /// The backend of this process, bootstrapped into `MetricsSystem` on first use (swift-metrics
    /// allows one bootstrap per process). Processes call `bootstrapProcess()` at start.
    public static let process: SwitchboardMetrics = {
        let metrics = SwitchboardMetrics()
        MetricsSystem.bootstrap(metrics)
        return metrics
    }()

    /// Makes `process` the backend of `MetricsSystem` now, before anything records.
    public static func bootstrapProcess() { _ = process }

    /// Latency buckets in seconds: 1 ms … 60 s.
    static let latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
    /// Waiting buckets in seconds: 10 ms … 1 h (rate-limit slots can be far ahead).
    static let waitBuckets = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600]

    // Read from PostgreSQL when scraped, by the process's metrics endpoint.
    public let queueJobs: Gauge
    public let queueOldestAvailableAge: Gauge
    public let voiceSessionsActive: Gauge
    public let queueTableRows: Gauge
    public let oldestTransactionAge: Gauge
    public let scrapeErrors: Counter

    private enum Family: Sendable {
        case counter(Counter)
        case gauge(Gauge)
        case histogram(Histogram)
    }

    private struct Entry: Sendable {
        var family: Family
        var labelNames: [String]
    }

    private let families: Mutex<[String: Entry]>

    public init() {
        var entries: [String: Entry] = [:]
        let registry = registry
        func counter(_ name: String, _ help: String, _ labels: [String] = []) {
            entries[name] = Entry(
                family: .counter(registry.counter(name, help: help, labels: labels)), labelNames: labels)
        }
        func histogram(
            _ name: String, _ help: String, _ labels: [String], _ buckets: [Double] = SwitchboardMetrics.latencyBuckets
        ) {
            entries[name] = Entry(
                family: .histogram(registry.histogram(name, help: help, labels: labels, buckets: buckets)),
                labelNames: labels)
        }
        // Worker.
        counter(
            MetricNames.jobs, "Job attempts finished by this process, by kind and outcome.", ["kind", "outcome"])
        histogram(MetricNames.jobDuration, "How long one job attempt ran in this process, by kind.", ["kind"])
        // Sending.
        histogram(
            MetricNames.sendLatency,
            "From the start of a send attempt to Twilio accepting it (rate-limit wait included), by channel.",
            ["channel"])
        histogram(
            MetricNames.rateLimitWait,
            "How far ahead the booked send slot was when a message was booked, by pool ('' for a single number).",
            ["pool"], Self.waitBuckets)
        counter(
            MetricNames.rateLimitSaturated, "Bookings that found every sender booked out beyond the horizon, by pool.",
            ["pool"])
        counter(
            MetricNames.carrierHeld,
            "SMS held back by a US carrier's A2P 10DLC budget and deferred to its next window, by carrier and cap (per_minute, per_day).",
            ["carrier", "cap"])
        counter(
            MetricNames.carrierSlotMissed,
            "Carrier slots given up because the send could not go out within their window (booked anew), by carrier.",
            ["carrier"])
        counter(
            MetricNames.rateLimitMissed,
            "Slots kept across a snooze that had passed when the job was claimed again (and were booked anew), by pool ('campaign' for a campaign cap, 'calls' for calls per second).",
            ["pool"])
        counter(
            MetricNames.sendsFenced,
            "Sends not started because the job's lease might expire before the Twilio request would end (heartbeats not getting through); retried shortly."
        )
        // Twilio.
        histogram(
            MetricNames.twilioRequestDuration,
            "Twilio REST requests by operation and HTTP status ('error' when no response arrived).",
            ["operation", "status"])
        counter(MetricNames.twilioErrors, "Twilio error codes returned to requests, by code.", ["code"])
        // Event webhooks.
        counter(
            MetricNames.eventDeliveries,
            "Event delivery attempts by outcome (delivered, retried, failed for good, gone: the receiver answered 410).",
            ["outcome"])
        histogram(
            MetricNames.eventDeliveryDuration, "How long receivers took to answer an event delivery, by outcome.",
            ["outcome"])
        // Pricing.
        counter(
            MetricNames.priceChecks,
            "Price checks by resource and outcome (priced; waiting: Twilio has no price yet; unknown: given up; error).",
            ["resource", "outcome"])
        // Queue, read when scraped.
        queueJobs = registry.gauge(
            "switchboard_queue_jobs", help: "Unfinished jobs by queue, kind and state (available includes scheduled).",
            labels: ["queue", "kind", "state"])
        queueOldestAvailableAge = registry.gauge(
            "switchboard_queue_oldest_available_age_seconds",
            help: "How long the oldest due, unclaimed job of each queue has been waiting.", labels: ["queue"])
        voiceSessionsActive = registry.gauge(
            "switchboard_voice_sessions_active", help: "Voice-agent sessions not yet ended.")
        queueTableRows = registry.gauge(
            "switchboard_queue_table_rows",
            help: "Rows of switchboard.jobs, live or dead (not yet vacuumed), from PostgreSQL's statistics.",
            labels: ["state"])
        oldestTransactionAge = registry.gauge(
            "switchboard_oldest_transaction_age_seconds",
            help: "How long the oldest transaction holding back vacuum (backend_xmin) has been open.")
        scrapeErrors = registry.counter(
            "switchboard_metrics_scrape_errors_total", help: "Scrapes whose database readings failed.")
        // Webhook.
        histogram(
            MetricNames.webhookRequestDuration, "Requests served by the webhook process, by route and HTTP status.",
            ["route", "status"])
        histogram(
            MetricNames.llmRequestDuration,
            "Chat-completion requests of LLM voice agents, by outcome (ok, error, timeout).", ["outcome"])
        counter(MetricNames.llmTokens, "Tokens used by LLM voice agents, by type (prompt, completion).", ["type"])
        families = Mutex(entries)
    }

    /// The exposition of every family, in registration order.
    public func exposition() -> String { registry.exposition() }

    // MARK: MetricsFactory

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        let (entry, labels) = lookup(label, dimensions) { name, labels in
            .counter(registry.counter(name, help: "Recorded as \(label).", labels: labels))
        }
        return SeriesHandler(entry.family, labels)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let (entry, labels) = lookup(label, dimensions) { name, labels in
            aggregate
                ? .histogram(
                    registry.histogram(
                        name, help: "Recorded as \(label).", labels: labels, buckets: Self.latencyBuckets))
                : .gauge(registry.gauge(name, help: "Recorded as \(label).", labels: labels))
        }
        return SeriesHandler(entry.family, labels)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        let (entry, labels) = lookup(label, dimensions) { name, labels in
            .gauge(registry.gauge(name, help: "Recorded as \(label).", labels: labels))
        }
        return SeriesHandler(entry.family, labels)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let (entry, labels) = lookup(label, dimensions) { name, labels in
            .histogram(
                registry.histogram(name, help: "Recorded as \(label).", labels: labels, buckets: Self.latencyBuckets))
        }
        return SeriesHandler(entry.family, labels)
    }

    // Series live as long as the process; nothing to release.
    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyMeter(_ handler: any MeterHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}

    /// The family of `label` (made by `make` if it is not in the catalogue, under a name and label
    /// names Prometheus accepts: `hb.request.duration` becomes `hb_request_duration`) and the
    /// dimensions' values in its label order (missing ones empty, unknown ones dropped).
    private func lookup(
        _ label: String, _ dimensions: [(String, String)], make: (String, [String]) -> Family
    ) -> (Entry, LabelValues) {
        let entry = families.withLock { families in
            if let entry = families[label] { return entry }
            let entry = Entry(
                family: make(Self.prometheusName(label), dimensions.map { Self.prometheusName($0.0) }),
                labelNames: dimensions.map(\.0))
            families[label] = entry
            return entry
        }
        let values = entry.labelNames.map { name in dimensions.first { $0.0 == name }?.1 ?? "" }
        return (entry, values)
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`: anything else becomes `_`.
    static func prometheusName(_ text: String) -> String {
        var name = String(text.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
        if name.first.map({ $0.isNumber }) ?? true { name = "_" + name }
        return name
    }

    /// One series of a family, as every kind of swift-metrics handler: a counter adds, a timer or
    /// an aggregating recorder observes (seconds for a timer), a gauge is set or moved.
    private final class SeriesHandler: CounterHandler, RecorderHandler, MeterHandler, TimerHandler, Sendable {
        let family: Family
        let labels: LabelValues

        init(_ family: Family, _ labels: LabelValues) {
            self.family = family
            self.labels = labels
        }

        func increment(by amount: Int64) { increment(by: Double(amount)) }

        func increment(by amount: Double) {
            switch family {
            case .counter(let counter): counter.increment(labels, by: amount)
            case .gauge(let gauge): gauge.add(amount, labels)
            case .histogram(let histogram): histogram.observe(amount, labels)
            }
        }

        func decrement(by amount: Double) {
            if case .gauge(let gauge) = family { gauge.add(-amount, labels) }
        }

        func reset() {
            if case .gauge(let gauge) = family { gauge.set(0, labels) }
        }

        func record(_ value: Int64) { record(Double(value)) }

        func record(_ value: Double) {
            switch family {
            case .counter(let counter): counter.increment(labels, by: value)
            case .gauge(let gauge): gauge.set(value, labels)
            case .histogram(let histogram): histogram.observe(value, labels)
            }
        }

        func set(_ value: Int64) { record(Double(value)) }
        func set(_ value: Double) { record(value) }

        func recordNanoseconds(_ duration: Int64) { record(Double(duration) / 1e9) }
    }
}
