import Foundation
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

@Suite struct RelativeTimeTests {
    @Test func pastAndFutureTimesInTheLargestWholeUnit() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        func text(_ seconds: Double) -> String { RelativeTime.text(for: now.addingTimeInterval(seconds), now: now) }
        #expect(text(0.4) == "now")
        #expect(text(-42) == "42s ago")
        #expect(text(12) == "in 12s")
        #expect(text(-300) == "5m ago")
        #expect(text(7200) == "in 2h")
        #expect(text(-3 * 86400) == "3d ago")
        #expect(text(.infinity) == "-")
        #expect(text(1e300) == "in 11574074d", "bounded: a far time cannot trap the conversion")
    }
}
