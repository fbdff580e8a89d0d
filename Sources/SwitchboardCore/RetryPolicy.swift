/// How long to wait before the next attempt of a failed job: exponential backoff with full jitter,
/// capped.
///
/// `delay = random(0, min(cap, base · 2^(attempt-1)))` — "full jitter" spreads retries of jobs that
/// failed together (an outage) so they do not come back as one wave. Pure: the randomness is a
/// parameter, so the schedule is testable.
public struct RetryPolicy: Sendable, Equatable {
    /// Delay ceiling for the first retry, before jitter.
    public var base: Duration
    /// No retry waits longer than this.
    public var cap: Duration
    /// Lower bound after jitter, so a retry never fires in a tight loop.
    public var minimum: Duration

    public init(base: Duration = .seconds(2), cap: Duration = .seconds(3600), minimum: Duration = .milliseconds(100)) {
        self.base = base
        self.cap = cap
        self.minimum = minimum
    }

    /// The ceiling of the jitter range after `attempt` failed attempts (attempt ≥ 1).
    public func ceiling(afterAttempt attempt: Int) -> Duration {
        let exponent = Swift.max(0, Swift.min(attempt - 1, 62))
        let baseSeconds = base.seconds
        let grown = baseSeconds * pow2(exponent)
        return .seconds(Swift.min(cap.seconds, grown))
    }

    /// The delay before the next attempt; `unitRandom` is uniform in [0, 1).
    public func delay(afterAttempt attempt: Int, unitRandom: Double) -> Duration {
        let ceiling = ceiling(afterAttempt: attempt).seconds
        let jittered = ceiling * Swift.min(Swift.max(unitRandom, 0), 1)
        return .seconds(Swift.max(minimum.seconds, jittered))
    }

    private func pow2(_ exponent: Int) -> Double {
        var value = 1.0
        for _ in 0..<exponent { value *= 2 }
        return value
    }
}

extension Duration {
    /// The duration in seconds as a `Double`.
    public var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }

    /// The duration in milliseconds as a `Double`.
    public var milliseconds: Double { seconds * 1000 }
}
