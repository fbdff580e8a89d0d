import Logging
import ServiceLifecycle
import ServiceTask
import SwitchboardStore

/// Moves messages older than `age` out of the hot `messages` table into `message_history` (in
/// batches, one archiver at a time across hosts), keeps its daily partitions made two days
/// ahead, and with a retention drops whole days past it. It also drops carrier pacing's daily
/// counts of past days and carriers cached longer than they are trusted. Status callbacks, replies and the
/// send path work on recent messages; old ones are only read (`switchboard.all_messages`).
public struct MessageArchiver: Service {
    public static let batchLimit = 10_000

    let deliveries: DeliveryStore
    let age: Duration
    let retention: Duration?
    let interval: Duration
    let logger: Logger

    public init(
        deliveries: DeliveryStore, age: Duration, retention: Duration?, interval: Duration = .seconds(60),
        logger: Logger
    ) {
        self.deliveries = deliveries
        self.age = age
        self.retention = retention
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await repeatUntilShutdown(every: interval, logger: logger, failure: "archiving messages failed") {
            // Cheap when nothing is missing (a catalog read); a pass a minute is often enough.
            let made = try await deliveries.createHistoryPartitions(daysAhead: 2)
            if made > 0 { logger.info("created message history partitions", metadata: ["count": "\(made)"]) }
            let moved = try await deliveries.archive(createdMoreThan: age, limit: Self.batchLimit)
            try await CarrierStore(pool: deliveries.pool).prune(
                lookupsOlderThan: CarrierPacing.lookupMaxAge, limit: Self.batchLimit)
            if moved > 0 { logger.debug("moved messages to history", metadata: ["count": "\(moved)"]) }
            if let retention {
                let pruned = try await deliveries.prune(olderThan: retention, limit: Self.batchLimit)
                for partition in pruned.droppedPartitions {
                    logger.info("dropped a day of message history", metadata: ["partition": "\(partition)"])
                }
                if pruned.deleted >= Self.batchLimit { return true }
            }
            return moved >= Self.batchLimit
        }
    }
}
