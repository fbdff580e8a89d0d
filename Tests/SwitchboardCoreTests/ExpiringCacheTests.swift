import SwitchboardCore
import Testing

@Suite struct ExpiringCacheTests {
    /// Seconds since an arbitrary start, moved by the test.
    struct Tick: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Tick { Tick(offset: offset + duration) }
        func duration(to other: Tick) -> Duration { other.offset - offset }
        static func < (lhs: Tick, rhs: Tick) -> Bool { lhs.offset < rhs.offset }
        static func at(_ seconds: Int) -> Tick { Tick(offset: .seconds(seconds)) }
    }

    @Test func aValueIsKeptForItsTimeToLiveAndNotAMomentLonger() {
        var cache = ExpiringCache<String, Int, Tick>(ttl: .seconds(10))
        cache.store(1, for: "a", now: .at(100))
        #expect(cache.value(for: "a", now: .at(100)) == 1)
        #expect(cache.value(for: "a", now: .at(109)) == 1)
        #expect(cache.value(for: "a", now: .at(110)) == nil)
        #expect(cache.value(for: "b", now: .at(100)) == nil)
        cache.store(2, for: "a", now: .at(110))
        #expect(cache.value(for: "a", now: .at(115)) == 2, "storing again restarts the time to live")
        cache.remove("a")
        #expect(cache.value(for: "a", now: .at(115)) == nil)
    }

    @Test func aCachedAbsenceIsAHit() {
        var cache = ExpiringCache<String, Int64?, Tick>(ttl: .seconds(10))
        cache.store(nil, for: "unknown", now: .at(0))
        #expect(cache.value(for: "unknown", now: .at(1)) == .some(nil))
        #expect(cache.value(for: "never asked", now: .at(1)) == nil)
    }

    @Test func manyKeysDropExpiredEntriesFirstThenTheOldest() {
        var cache = ExpiringCache<Int, Int, Tick>(ttl: .seconds(10), maxEntries: 3)
        cache.store(0, for: 0, now: .at(0))
        cache.store(1, for: 1, now: .at(5))
        cache.store(2, for: 2, now: .at(11))
        // At 12 s the entry from 0 s has expired: it goes, the rest stay.
        cache.store(3, for: 3, now: .at(12))
        #expect(cache.count == 3)
        #expect(cache.value(for: 1, now: .at(12)) == 1)
        // Nothing has expired at 13 s: the oldest (stored at 5 s) makes room.
        cache.store(4, for: 4, now: .at(13))
        #expect(cache.count == 3)
        #expect(cache.value(for: 1, now: .at(13)) == nil)
        #expect([2, 3, 4].map { cache.value(for: $0, now: .at(13)) } == [2, 3, 4])
    }
}
