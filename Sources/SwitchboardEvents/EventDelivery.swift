import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import ServiceTask
import SwitchboardCore
import SwitchboardStore
import SwitchboardWorker

/// The `event.deliver` job: POSTs one event to one subscription, signed, and records the attempt.
///
/// A 2xx answer delivers it; 410 Gone pauses the subscription (its events wait for `events
/// resume`); anything else — another status, a refused connection, no answer within the timeout,
/// a redirect (not followed) — is tried again on `EventRetrySchedule` until it runs out. Retries
/// are snoozes of the job, so the schedule is this handler's and the job's attempts count only
/// lost workers. An event waits while an earlier event of the same subject is not yet delivered
/// to that subscription.
public struct EventDelivery: Sendable {
    public struct Configuration: Sendable {
        /// How long a receiver has to answer.
        public var timeout: Duration
        public var schedule: EventRetrySchedule

        public init(timeout: Duration = .seconds(15), schedule: EventRetrySchedule = .standard) {
            self.timeout = timeout
            self.schedule = schedule
        }
    }

    let store: EventStore
    let http: HTTPClient
    let configuration: Configuration
    let clock: @Sendable () -> Date
    /// Attempts of concurrent deliveries are recorded together: one commit for many.
    let recorder: Batcher<EventStore.Attempt, Bool>

    public init(
        store: EventStore, http: HTTPClient = EventDelivery.sharedHTTPClient, configuration: Configuration = .init(),
        clock: @escaping @Sendable () -> Date = Date.init
    ) {
        self.store = store
        self.http = http
        self.configuration = configuration
        self.clock = clock
        recorder = Batcher(maxBatch: 200) { attempts in try await store.record(attempts) }
    }

    /// One client for every delivery of the process, never shut down: redirects are not followed
    /// (a receiver that moved must be re-subscribed; following would re-send the body elsewhere).
    public static let sharedHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout.connect = .seconds(10)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public func register(in registry: inout HandlerRegistry) {
        registry.register(EventStore.deliverKind) { job, context in try await run(job, context) }
    }

    struct Payload: Decodable {
        var deliveryId: Int64
    }

    /// Not retried: a payload this handler cannot read (written by hand, not by emit_event()).
    struct BadPayload: PermanentJobError, CustomStringConvertible {
        var description: String
    }

    func run(_ job: ClaimedJob, _ context: JobContext) async throws -> JobOutcome {
        let payload: Payload
        do {
            payload = try job.payload.decode(Payload.self)
        } catch {
            throw BadPayload(description: "payload: deliveryId must be the id of an event delivery")
        }
        switch try await store.work(deliveryID: payload.deliveryId, jobID: job.id) {
        case .settled:
            return .completed(result: nil)
        case .paused:
            return .completed(result: #"{"paused":true}"#)
        case .waitingForEarlier(let wait):
            return .snoozed(delay: wait)
        case .ready(let delivery):
            // The POST must end while this worker surely holds the job; else wait for a heartbeat.
            guard context.leaseOutlasts(configuration.timeout) else { return .snoozed(delay: .seconds(1)) }
            let report = await attempt(delivery)
            record(report)
            guard
                try await recorder.submit(
                    EventStore.Attempt(report, deliveryID: delivery.deliveryID, jobID: job.id))
            else {
                return .completed(result: nil)
            }
            let attempts = delivery.attempts + 1
            switch report.verdict {
            case .delivered:
                return .completed(
                    result:
                        #"{"deliveryId":\#(delivery.deliveryID),"statusCode":\#(report.statusCode ?? 0),"attempts":\#(attempts)}"#
                )
            case .gone:
                context.logger.notice(
                    "event receiver answered 410 Gone: subscription paused",
                    metadata: ["subscription": "\(delivery.subscriptionID)"])
                return .completed(result: #"{"paused":true,"statusCode":410}"#)
            case .failed(final: true):
                return .failed(
                    error: "gave up after \(attempts) attempts: \(report.error ?? "no answer")", permanent: true)
            case .failed(final: false):
                let wait =
                    configuration.schedule.wait(afterAttempts: attempts, unitRandom: Double.random(in: 0..<1))
                    ?? .seconds(60)
                context.logger.info(
                    "event delivery failed, will retry",
                    metadata: [
                        "subscription": "\(delivery.subscriptionID)", "event": "\(delivery.eventID)",
                        "error": "\(report.error ?? "")", "retry_in_s": "\(Int(wait.seconds))",
                    ])
                return .snoozed(delay: wait)
            }
        }
    }

    /// One POST and what came of it.
    func attempt(_ delivery: EventDeliveryWork.Ready) async -> EventAttemptReport {
        let body = Array(delivery.body.utf8)
        let secrets = delivery.secrets.compactMap { try? WebhookSecret(parsing: $0) }
        // Only a row written by hand holds a secret that does not read: nothing unsigned goes out.
        guard !secrets.isEmpty else {
            return EventAttemptReport(
                verdict: .failed(final: true), statusCode: nil,
                error: "the subscription's signing secret does not read (rotate it)", latency: .zero, response: nil)
        }
        let request = EventSignature.post(
            url: delivery.url, id: delivery.eventID, body: body, secrets: secrets,
            timestamp: Int64(clock().timeIntervalSince1970), userAgent: "Switchboard-Webhooks/1")
        let isLast = delivery.attempts + 1 >= configuration.schedule.attempts
        let started = ContinuousClock.now
        do {
            let response = try await http.execute(
                request, timeout: .nanoseconds(Int64(configuration.timeout.seconds * 1e9)))
            let answer = try await response.body.collect(upTo: 64 << 10)
            let latency = ContinuousClock.now - started
            let status = Int(response.status.code)
            let text = String(decoding: answer.readableBytesView.prefix(256), as: UTF8.self)
            switch status {
            case 200..<300:
                return EventAttemptReport(
                    verdict: .delivered, statusCode: status, error: nil, latency: latency, response: text)
            case 410:
                return EventAttemptReport(
                    verdict: .gone, statusCode: status, error: "410 Gone", latency: latency, response: text)
            default:
                let error =
                    (300..<400).contains(status)
                    ? "HTTP \(status): redirects are not followed (subscribe the new URL)" : "HTTP \(status)"
                return EventAttemptReport(
                    verdict: .failed(final: isLast), statusCode: status, error: error, latency: latency, response: text)
            }
        } catch {
            // The receiver's URL may carry a token: errors describe what failed, not where.
            return EventAttemptReport(
                verdict: .failed(final: isLast), statusCode: nil, error: Self.describe(error),
                latency: ContinuousClock.now - started, response: nil)
        }
    }

    static func describe(_ error: Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout: return "no answer within the timeout"
            case .remoteConnectionClosed: return "the receiver closed the connection"
            default: break
            }
        }
        if error is NIOTooManyBytesError { return "the answer was longer than 64 KiB" }
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        return "no answer (" + String(text.prefix(120)) + ")"
    }

    private func record(_ report: EventAttemptReport) {
        let outcome =
            switch report.verdict {
            case .delivered: "delivered"
            case .gone: "gone"
            case .failed(let final): final ? "failed" : "retried"
            }
        Counter(label: MetricNames.eventDeliveries, dimensions: [("outcome", outcome)]).increment()
        Metrics.Timer(label: MetricNames.eventDeliveryDuration, dimensions: [("outcome", outcome)])
            .recordNanoseconds(Int64(report.latency.seconds * 1e9))
    }
}

/// Deletes events older than the retention that nothing waits to deliver (their deliveries and
/// attempts with them), every few minutes; any number of workers may run it.
public struct EventPruner: Service {
    public static let batchLimit = 10_000

    let store: EventStore
    let retention: Duration
    let interval: Duration
    let logger: Logger

    public init(store: EventStore, retention: Duration, interval: Duration = .seconds(300), logger: Logger) {
        self.store = store
        self.retention = retention
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await repeatUntilShutdown(every: interval, logger: logger, failure: "pruning events failed") {
            let pruned = try await store.prune(olderThan: retention, limit: Self.batchLimit)
            if pruned > 0 { logger.debug("pruned events", metadata: ["count": "\(pruned)"]) }
            return pruned >= Self.batchLimit
        }
    }
}
