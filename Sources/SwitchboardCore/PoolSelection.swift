import Foundation

/// Chooses senders from number pools and books their GCRA slots for a batch of messages: the
/// recipient's sticky sender (and only that one), else a sender with the recipient's country
/// calling code, else with its NANP area code, else the least booked one that has the capability.
///
/// Pure: the store reads the pools' senders under their locks, runs this, and writes back the new
/// booking times and sticky senders in the same transaction, so every choice sees every earlier
/// booking (DESIGN.md, per-number rate limiting).
public struct PoolSelection: Sendable {
    /// A sender as read from the database (enabled ones only).
    public struct Sender: Sendable, Equatable {
        public var id: Int64
        public var address: String
        /// Booked until then (never earlier than `now`).
        public var bookedUntil: Date
        /// Segments per second.
        public var rate: Double
        public var burst: Double
        public var capabilities: Set<String>
        public var countryCode: Int?
        public var areaCode: String?

        public init(
            id: Int64, address: String, bookedUntil: Date, rate: Double, burst: Double, capabilities: Set<String>,
            countryCode: Int?, areaCode: String?
        ) {
            self.id = id
            self.address = address
            self.bookedUntil = bookedUntil
            self.rate = rate
            self.burst = burst
            self.capabilities = capabilities
            self.countryCode = countryCode
            self.areaCode = areaCode
        }

        /// How far ahead it may be booked: the horizon, or at least its burst.
        func limit(horizon: Double) -> Double { max(horizon, (burst - 1) / rate) }
    }

    public struct Request: Sendable, Equatable {
        public var pool: Int64
        /// The recipient as the job wrote it: the sticky-sender key.
        public var recipient: String
        public var countryCode: Int
        public var areaCode: String?
        public var capability: String
        public var segments: Int

        public init(
            pool: Int64, recipient: String, countryCode: Int, areaCode: String?, capability: String, segments: Int
        ) {
            self.pool = pool
            self.recipient = recipient
            self.countryCode = countryCode
            self.areaCode = areaCode
            self.capability = capability
            self.segments = segments
        }
    }

    public enum Booking: Sendable, Equatable {
        case reserved(senderID: Int64, address: String, slot: Date, rate: Double)
        /// Every candidate is booked beyond the horizon; ask again then.
        case saturated(retryAt: Date)
        /// No enabled sender of the pool has the capability (or the pool is unknown).
        case noSender
    }

    public struct StickyKey: Hashable, Sendable {
        public var pool: Int64
        public var recipient: String
        public init(pool: Int64, recipient: String) {
            self.pool = pool
            self.recipient = recipient
        }
    }

    public private(set) var senders: [Int64: Sender]
    /// Sender ids of each pool.
    let members: [Int64: [Int64]]
    /// Pools that keep sticky senders.
    let stickyPools: Set<Int64>
    public private(set) var sticky: [StickyKey: Int64]
    /// Sticky senders chosen by this batch, to record.
    public private(set) var newSticky: [StickyKey: Int64] = [:]
    /// Senders whose booking time this batch moved.
    public private(set) var booked: Set<Int64> = []
    let now: Date
    let horizon: Double

    public init(
        senders: [Sender], members: [Int64: [Int64]], stickyPools: Set<Int64>, sticky: [StickyKey: Int64], now: Date,
        horizon: Double
    ) {
        self.senders = Dictionary(senders.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.members = members
        self.stickyPools = stickyPools
        self.sticky = sticky
        self.now = now
        self.horizon = horizon
    }

    /// Books one message, in order: later requests see earlier bookings.
    public mutating func book(_ request: Request) -> Booking {
        let capable = (members[request.pool] ?? []).compactMap { senders[$0] }.filter {
            $0.capabilities.contains(request.capability)
        }
        guard !capable.isEmpty else { return .noSender }
        let key = StickyKey(pool: request.pool, recipient: request.recipient)
        let isSticky = stickyPools.contains(request.pool)
        var candidates = capable
        if isSticky, let kept = sticky[key], let keptSender = capable.first(where: { $0.id == kept }) {
            candidates = [keptSender]
        }
        let eligible = candidates.filter {
            $0.bookedUntil.timeIntervalSince(now) <= $0.limit(horizon: horizon)
        }
        guard
            let chosen = eligible.min(by: { Self.preference($0, request) < Self.preference($1, request) })
        else {
            let retryAt = candidates.map { $0.bookedUntil.addingTimeInterval(-$0.limit(horizon: horizon)) }.min()!
            return .saturated(retryAt: retryAt)
        }
        let slot = max(chosen.bookedUntil, now)
        senders[chosen.id]!.bookedUntil = slot.addingTimeInterval(Double(request.segments) / chosen.rate)
        booked.insert(chosen.id)
        if isSticky && sticky[key] != chosen.id {
            sticky[key] = chosen.id
            newSticky[key] = chosen.id
        }
        return .reserved(senderID: chosen.id, address: chosen.address, slot: slot, rate: chosen.rate)
    }

    /// Smaller is better: country match, then area-code match (a sender without a code last),
    /// then when the booking would end, then id.
    struct Preference: Comparable {
        var country: Int
        var area: Int
        var ends: Double
        var id: Int64

        static func < (a: Preference, b: Preference) -> Bool {
            (a.country, a.area, a.ends, a.id) < (b.country, b.area, b.ends, b.id)
        }
    }

    static func preference(_ sender: Sender, _ request: Request) -> Preference {
        // Nothing wanted (a recipient outside NANP has no area code): every sender ranks alike.
        func rank<T: Equatable>(_ value: T?, _ wanted: T?) -> Int {
            guard wanted != nil else { return 0 }
            guard let value else { return 2 }
            return value == wanted ? 0 : 1
        }
        let ends = sender.bookedUntil.timeIntervalSince1970 + Double(request.segments) / sender.rate
        return Preference(
            country: rank(sender.countryCode, request.countryCode), area: rank(sender.areaCode, request.areaCode),
            ends: ends, id: sender.id)
    }
}
