import Logging
import ServiceLifecycle
import ServiceTask
import SwitchboardStore

/// Ends voice sessions whose call must be over but that no callback closed. Every webhook process
/// runs one; the update is guarded, so several at once are harmless.
public struct SessionSweeper: Service {
    let sessions: SessionStore
    let interval: Duration
    let logger: Logger

    public init(sessions: SessionStore, interval: Duration, logger: Logger) {
        self.sessions = sessions
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await repeatUntilShutdown(every: interval, logger: logger, failure: "could not end expired voice sessions") {
            let ended = try await sessions.expire()
            if ended > 0 {
                logger.notice("ended voice sessions past their time limit", metadata: ["count": "\(ended)"])
            }
            return ended >= SessionStore.expireBatchLimit
        }
    }
}

/// The dashboard's queue-depth history: one sample per interval across all hosts (the store
/// keeps one per minute).
public struct QueueDepthSampler: Service {
    let dashboard: DashboardStore
    let interval: Duration
    let logger: Logger

    public init(dashboard: DashboardStore, interval: Duration, logger: Logger) {
        self.dashboard = dashboard
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await repeatUntilShutdown(
            every: interval, logger: logger, failure: "could not sample the queue depth", failureLevel: .debug
        ) {
            try await dashboard.sampleQueueDepth()
            return false
        }
    }
}
