import Foundation

/// When to ask Twilio again for a price it has not published yet, and when to stop asking.
///
/// Twilio fills a message's or call's `price` some time after it was sent, usually within a
/// minute; now and then much later. The checks thin out as the wait grows, so a price that never
/// comes costs about a dozen requests over the give-up age, not one a minute.
public struct PriceCheckSchedule: Sendable, Equatable {
    /// After the first check that found no price, wait the first delay; after the second, the
    /// second; the last repeats.
    public var delays: [Duration]
    /// Counted from the final status: by then a price that has not appeared is marked unknown.
    public var giveUpAfter: Duration

    public static let standard = PriceCheckSchedule(
        delays: [
            .seconds(20), .seconds(60), .seconds(120), .seconds(300), .seconds(900), .seconds(1800), .seconds(3600),
            .seconds(7200), .seconds(14_400), .seconds(28_800),
        ],
        giveUpAfter: .seconds(86_400))

    public init(delays: [Duration], giveUpAfter: Duration) {
        self.delays = delays.isEmpty ? [.seconds(60)] : delays
        self.giveUpAfter = giveUpAfter
    }

    /// When to check again after `checks` checks found nothing (the last one just now), or nil
    /// when it is time to give up. The last check falls on the give-up age itself.
    public func nextCheck(afterChecks checks: Int, finalAt: Date, now: Date) -> Date? {
        let deadline = finalAt.addingTimeInterval(giveUpAfter.seconds)
        guard now < deadline else { return nil }
        let delay = delays[min(max(checks, 1), delays.count) - 1]
        return min(now.addingTimeInterval(delay.seconds), deadline)
    }
}
