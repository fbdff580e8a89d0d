/// Values kept for `ttl` after they were stored, judged on an instant the caller passes in (so the
/// expiry is tested without waiting). The account, sender/pool id and webhook-token caches are
/// this one type inside an actor each.
///
/// Bounded: past `maxEntries`, expired entries are dropped first, then the oldest, so keys an
/// attacker can choose never grow it without limit.
public struct ExpiringCache<Key: Hashable, Value, Instant: InstantProtocol> where Instant.Duration == Duration {
    public let ttl: Duration
    public let maxEntries: Int
    private var entries: [Key: (value: Value, storedAt: Instant)] = [:]

    public init(ttl: Duration, maxEntries: Int = 10_000) {
        self.ttl = ttl
        self.maxEntries = max(1, maxEntries)
    }

    public var count: Int { entries.count }

    /// The value stored for `key` less than `ttl` before `now`.
    public func value(for key: Key, now: Instant) -> Value? {
        guard let entry = entries[key], entry.storedAt.duration(to: now) < ttl else { return nil }
        return entry.value
    }

    public mutating func store(_ value: Value, for key: Key, now: Instant) {
        entries[key] = (value, now)
        guard entries.count > maxEntries else { return }
        entries = entries.filter { $0.value.storedAt.duration(to: now) < ttl }
        while entries.count > maxEntries, let oldest = entries.min(by: { $0.value.storedAt < $1.value.storedAt }) {
            entries[oldest.key] = nil
        }
    }

    public mutating func remove(_ key: Key) { entries[key] = nil }
}
