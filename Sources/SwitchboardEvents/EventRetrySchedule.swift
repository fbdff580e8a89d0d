/// When a failed event delivery is tried again: the first retry after seconds (a receiver
/// restarting), then further apart, for about three days in all — the window Stripe gives a
/// receiver to come back. A success after an outage brings every waiting retry of
/// its subscription forward (`EventStore.record`), so a receiver back after an hour does not wait
/// for the schedule.
public struct EventRetrySchedule: Sendable, Equatable {
    /// The wait after the first, second, … failed attempt; one more attempt than waits.
    public var waits: [Duration]
    /// Each wait is drawn from ±`jitter` of itself, so a receiver's backlog does not return as one wave.
    public var jitter: Double

    public init(waits: [Duration], jitter: Double = 0.2) {
        self.waits = waits
        self.jitter = jitter
    }

    /// 5 s, 1 min, 5 min, 30 min, 1 h, 2 h, 4 h, 8 h, 12 h, 24 h, 24 h: twelve attempts over
    /// about 3.2 days.
    public static let standard = EventRetrySchedule(waits: [
        .seconds(5), .seconds(60), .seconds(300), .seconds(1800), .seconds(3600), .seconds(7200),
        .seconds(14_400), .seconds(28_800), .seconds(43_200), .seconds(86_400), .seconds(86_400),
    ])

    public var attempts: Int { waits.count + 1 }

    /// The wait after `attempts` failed attempts, nil when that was the last; `unitRandom` is
    /// uniform in [0, 1).
    public func wait(afterAttempts attempts: Int, unitRandom: Double) -> Duration? {
        guard attempts >= 1, attempts <= waits.count else { return nil }
        let factor = 1 + jitter * (2 * min(max(unitRandom, 0), 1) - 1)
        return waits[attempts - 1] * factor
    }
}
