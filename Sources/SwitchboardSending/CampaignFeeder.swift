import Logging
import ServiceLifecycle
import ServiceTask
import SwitchboardStore

/// Turns campaigns' recipients into send jobs at the pace their senders can send, never more
/// than `lookahead` of each campaign's capacity in the queue (`CampaignStore.feed`). Every worker
/// process runs one; feeders on several hosts share the campaigns without feeding a recipient
/// twice (each pass holds the campaign's feed row). A pass every `interval`, at once again when a
/// pass made a full batch.
public struct CampaignFeeder: Service {
    public static let batchLimit = 5000

    let campaigns: CampaignStore
    let lookahead: Duration
    let interval: Duration
    let logger: Logger
    /// Called when jobs were made, so this process's worker claims them at once.
    let onFed: @Sendable () -> Void

    public init(
        campaigns: CampaignStore, lookahead: Duration, interval: Duration = .seconds(1), logger: Logger,
        onFed: @escaping @Sendable () -> Void = {}
    ) {
        self.campaigns = campaigns
        self.lookahead = lookahead
        self.interval = interval
        self.logger = logger
        self.onFed = onFed
    }

    public func run() async throws {
        await repeatUntilShutdown(every: interval, logger: logger, failure: "feeding campaigns failed") {
            try await feedOnce()
        }
    }

    /// One pass over every campaign with recipients left; true when one of them made a full batch.
    @discardableResult
    public func feedOnce() async throws -> Bool {
        var full = false
        var fed = 0
        for id in try await campaigns.campaignsToFeed() {
            let result = try await campaigns.feed(campaignID: id, lookahead: lookahead, batch: Self.batchLimit)
            fed += result.fed
            full = full || result.full
        }
        if fed > 0 {
            logger.debug("fed campaign jobs", metadata: ["count": "\(fed)"])
            onFed()
        }
        return full
    }
}
