import Foundation
import SwitchboardCore
import Testing

@Suite struct PoolSelectionTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    func sender(
        _ id: Int64, _ address: String, country: Int? = 1, area: String? = nil, rate: Double = 2,
        bookedFor seconds: Double = 0, capabilities: Set<String> = ["sms"]
    ) -> PoolSelection.Sender {
        PoolSelection.Sender(
            id: id, address: address, bookedUntil: now.addingTimeInterval(seconds), rate: rate, burst: 1,
            capabilities: capabilities, countryCode: country, areaCode: area)
    }

    func request(_ to: String, country: Int = 1, area: String? = "212", segments: Int = 1, capability: String = "sms")
        -> PoolSelection.Request
    {
        PoolSelection.Request(
            pool: 1, recipient: to, countryCode: country, areaCode: area, capability: capability, segments: segments)
    }

    func selection(
        _ senders: [PoolSelection.Sender], sticky: Bool = true, kept: [String: Int64] = [:], horizon: Double = 60
    )
        -> PoolSelection
    {
        PoolSelection(
            senders: senders, members: [1: senders.map(\.id)], stickyPools: sticky ? [1] : [],
            sticky: Dictionary(
                uniqueKeysWithValues: kept.map { (PoolSelection.StickyKey(pool: 1, recipient: $0), $1) }),
            now: now, horizon: horizon)
    }

    func chosen(_ booking: PoolSelection.Booking) -> Int64? {
        if case .reserved(let id, _, _, _) = booking { return id }
        return nil
    }

    @Test func countryThenAreaThenLeastBooked() {
        var pool = selection([
            sender(1, "+14155550001", area: "415"), sender(2, "+12125550001", area: "212", bookedFor: 5),
            sender(3, "+447700900001", country: 44),
        ])
        #expect(chosen(pool.book(request("+12125559999"))) == 2, "area code beats being less booked")
        #expect(chosen(pool.book(request("+447700900999", country: 44, area: nil))) == 3, "country")
        #expect(chosen(pool.book(request("+13055559999", area: "305"))) == 1, "least booked +1 number")
        // Outside NANP with no sender of its country: the least booked (1 and 3 tie: the lower id).
        #expect(chosen(pool.book(request("+33612345678", country: 33, area: nil))) == 1)
    }

    @Test func bookingsArePacedAndMultiSegmentMessagesCostMore() {
        var pool = selection([sender(1, "+14155550001")], sticky: false)
        let slots = [1, 3, 1].map { segments -> Date? in
            if case .reserved(_, _, let slot, _) = pool.book(request("+1212555000\(segments)", segments: segments)) {
                return slot
            }
            return nil
        }
        #expect(slots.map { $0?.timeIntervalSince(now) } == [0, 0.5, 2.0])
        #expect(pool.senders[1]?.bookedUntil == now.addingTimeInterval(2.5))
        #expect(pool.booked == [1])
    }

    @Test func stickySendersHoldEvenWhenBusiest() {
        var pool = selection(
            [sender(1, "+14155550001", bookedFor: 20), sender(2, "+14155550002")], kept: ["+12125550000": 1])
        #expect(chosen(pool.book(request("+12125550000"))) == 1)
        // A new recipient gets the least booked number and keeps it within the batch.
        #expect(chosen(pool.book(request("+12125550001"))) == 2)
        #expect(chosen(pool.book(request("+12125550001"))) == 2)
        #expect(pool.newSticky == [PoolSelection.StickyKey(pool: 1, recipient: "+12125550001"): 2])
    }

    @Test func aStickySenderThatLostTheCapabilityIsReplaced() {
        var pool = selection(
            [sender(1, "+14155550001", capabilities: ["voice"]), sender(2, "+14155550002")],
            kept: ["+12125550000": 1])
        #expect(chosen(pool.book(request("+12125550000"))) == 2)
        #expect(pool.newSticky.values.first == 2)
    }

    @Test func saturationSaysWhenToAskAgain() {
        var pool = selection([sender(1, "+14155550001", bookedFor: 70), sender(2, "+14155550002", bookedFor: 65)])
        guard case .saturated(let retryAt) = pool.book(request("+12125550000")) else {
            Issue.record("expected saturated")
            return
        }
        // The 60-second horizon reopens on the second number 5 s from now.
        #expect(retryAt.timeIntervalSince(now) == 5)
        #expect(pool.booked.isEmpty && pool.newSticky.isEmpty)
    }

    @Test func noCapableSenderIsNoSender() {
        var pool = selection([sender(1, "+14155550001")])
        #expect(pool.book(request("+12125550000", capability: "whatsapp")) == .noSender)
        var other = pool
        #expect(
            other.book(
                PoolSelection.Request(
                    pool: 9, recipient: "+12125550000", countryCode: 1, areaCode: "212", capability: "sms", segments: 1)
            )
                == .noSender)
    }
}
