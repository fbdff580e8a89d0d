import Foundation
import Postgres
import SwitchboardCore
import SwitchboardMetrics
import SwitchboardStore

/// Per-number rate limiting for sends: books a slot on the sender (or the best sender of a pool)
/// in Postgres, then sends at that slot — waiting briefly in the handler, or snoozing the job
/// with the reservation kept in its metadata so a long wait holds no worker capacity and costs
/// no attempt.
struct SendSlots: Sendable {
    let senders: SenderStore
    /// How far ahead a sender may be booked. Further out, jobs wait unbooked until it frees up.
    let horizon: Duration
    /// Concurrent pool reservations share one transaction (one turn on each pool's lock).
    let poolBookings: Batcher<PoolSelection.Request, ReservationResult>

    init(senders: SenderStore, horizon: Duration) {
        self.senders = senders
        self.horizon = horizon
        poolBookings = Batcher(maxBatch: 200) { requests in try await senders.reserve(batch: requests, horizon: horizon) }
    }
    /// A send may leave at most half a slot interval after its slot; later than that (the job was
    /// paused, the machine is busy) it would crowd the next slot, so the slot is given up and a new
    /// one booked. This is what keeps every 1-second window within the rate at the receiving end.
    static func tolerance(_ reservation: SenderReservation, units: Int) -> Double {
        0.5 * Double(units) / reservation.rate
    }
    let ids = LookupCache()

    enum Decision: Sendable {
        /// Send now from this address (`nil`: the From as given, unthrottled).
        case send(from: String?)
        case outcome(JobOutcome)
        /// The slot was missed; book another.
        case rebook
    }

    /// What a job keeps in its metadata while it waits: its sender slot, and its campaign slot
    /// (once that has come, the campaign's share is used and is not booked again).
    struct Kept: Codable {
        var reservation: SenderReservation?
        /// A booked campaign slot not yet reached.
        var campaign: SenderReservation?
        /// The campaign's slot was used: do not book another for this message.
        var campaignDone: Bool?
        /// Consecutive times this job found every sender booked beyond the horizon.
        var saturated: Int?
    }

    /// Under a campaign-wide cap: books the campaign's slot first. Returns nil to go on to the
    /// sender's slot, or the outcome (a snooze keeping the booking) to return now.
    func campaignGate(job: ClaimedJob, campaigns: CampaignStore, campaignID: Int64) async throws -> JobOutcome? {
        if (try? job.metadata.decode(Kept.self))?.campaignDone == true { return nil }
        var kept = (try? job.metadata.decode(Kept.self))?.campaign
        for _ in 0..<3 {
            let reservation: SenderReservation
            if let booked = kept {
                reservation = booked
            } else {
                switch try await campaigns.reserveSlot(id: campaignID, horizon: horizon) {
                case .reserved(let booked): reservation = booked
                case .saturated(let retryAt):
                    return .snoozed(
                        delay: .milliseconds(Int64(max(0.05, retryAt.timeIntervalSinceNow) * 1000)), metadata: "{}")
                case .noSender: return nil
                }
            }
            kept = nil
            // Like a sender's slot: used on time or not at all, so the campaign never bunches up.
            let tolerance = Self.tolerance(reservation, units: 1)
            switch SlotPlan.plan(secondsUntilSlot: reservation.slot.timeIntervalSinceNow) {
            case .sendNow:
                if -reservation.slot.timeIntervalSinceNow <= tolerance { return nil }
            case .wait(let wait):
                try await Task.sleep(for: wait)
                if -reservation.slot.timeIntervalSinceNow <= tolerance { return nil }
            case .snooze(let wait):
                return .snoozed(
                    delay: wait, metadata: try PostgresJSON.encoding(Kept(reservation: nil, campaign: reservation)).text
                )
            }
        }
        return .snoozed(delay: .milliseconds(50), metadata: "{}")
    }

    func decide(job: ClaimedJob, spec: MessageSpec, accountID: Int64, campaignDone: Bool = false) async throws
        -> Decision
    {
        let units = spec.channel == .whatsapp ? 1 : max(1, spec.segments)
        // Carried into any snooze below, so a used campaign slot is not booked again.
        let keptCampaign: Bool? = campaignDone ? true : nil
        if let kept = (try? job.metadata.decode(Kept.self))?.reservation,
            Date().timeIntervalSince(kept.slot) <= Self.tolerance(kept, units: units)
        {
            let decision = try await act(on: .reserved(kept), units: units, keeping: keptCampaign)
            if case .rebook = decision {} else { return decision }
        }
        // Book a slot; if it is missed by more than the tolerance (a slow wake-up), book again.
        for _ in 0..<3 {
            let decision = try await book(
                spec: spec, accountID: accountID, units: units, keeping: keptCampaign,
                saturatedRounds: (try? job.metadata.decode(Kept.self))?.saturated)
            if case .rebook = decision { continue }
            return decision
        }
        return .outcome(.snoozed(delay: .milliseconds(50), metadata: "{}"))
    }

    /// Calls: one slot per call on the account's calls-per-second limit.
    func decideCall(job: ClaimedJob, accounts: AccountStore, accountID: Int64) async throws -> Decision {
        if let kept = (try? job.metadata.decode(Kept.self))?.reservation,
            Date().timeIntervalSince(kept.slot) <= Self.tolerance(kept, units: 1)
        {
            let decision = try await act(on: .reserved(kept), units: 1)
            if case .rebook = decision {} else { return decision }
        }
        for _ in 0..<3 {
            let decision = try await act(
                on: try await accounts.reserveCallSlot(accountID: accountID, horizon: horizon), units: 1)
            if case .rebook = decision { continue }
            return decision
        }
        return .outcome(.snoozed(delay: .milliseconds(50), metadata: "{}"))
    }

    private func book(
        spec: MessageSpec, accountID: Int64, units: Int, keeping campaign: Bool?, saturatedRounds: Int?
    ) async throws -> Decision {
        let result: ReservationResult
        if let poolName = spec.pool {
            guard let poolID = try await ids.poolID(accountID: accountID, name: poolName, senders: senders) else {
                return .outcome(.failed(error: "pool: account has no pool named '\(poolName)'", permanent: true))
            }
            let recipient = try ChannelAddress(parsing: spec.to, field: "to")
            let request = PoolSelection.Request(
                pool: poolID, recipient: spec.to, countryCode: recipient.number.countryCode,
                areaCode: recipient.number.areaCode, capability: spec.channel.rawValue, segments: units)
            result = try await poolBookings.submit(request)
            if result == .noSender {
                return .outcome(
                    .failed(
                        error: "pool: '\(poolName)' has no enabled sender that can send \(spec.channel.rawValue)",
                        permanent: true))
            }
        } else if let from = spec.from,
            let senderID = try await ids.senderID(accountID: accountID, address: from, senders: senders)
        {
            result = try await senders.reserve(senderID: senderID, segments: units, horizon: horizon)
        } else {
            // A From that is not a registered sender has no configured limit.
            return .send(from: nil)
        }
        switch result {
        case .reserved(let reservation):
            SwitchboardMetrics.rateLimitWait.observe(max(0, reservation.slot.timeIntervalSinceNow), [spec.pool ?? ""])
        case .saturated: SwitchboardMetrics.rateLimitSaturated.increment([spec.pool ?? ""])
        case .noSender: break
        }
        return try await act(on: result, units: units, keeping: campaign, saturatedRounds: saturatedRounds)
    }

    private func act(
        on result: ReservationResult, units: Int, keeping campaign: Bool? = nil,
        saturatedRounds: Int? = nil
    ) async throws -> Decision {
        let now = Date()
        switch result {
        case .reserved(let reservation):
            let tolerance = Self.tolerance(reservation, units: units)
            switch SlotPlan.plan(secondsUntilSlot: reservation.slot.timeIntervalSince(now)) {
            case .sendNow:
                return now.timeIntervalSince(reservation.slot) <= tolerance ? .send(from: reservation.address) : .rebook
            case .wait(let wait):
                try await Task.sleep(for: wait)
                return Date().timeIntervalSince(reservation.slot) <= tolerance
                    ? .send(from: reservation.address) : .rebook
            case .snooze(let wait):
                let kept = try PostgresJSON.encoding(Kept(reservation: reservation, campaignDone: campaign)).text
                return .outcome(.snoozed(delay: wait, metadata: kept))
            }
        case .saturated(let retryAt):
            // A long backlog must not poll: each time a job finds the senders booked out, its retry
            // is spread over a window twice as long (1 s, 2 s, 4 s … up to half the horizon), so the
            // retry rate of a backlog decays instead of staying proportional to its size.
            let rounds = (saturatedRounds ?? 0) + 1
            let window = min(horizon.seconds / 2, pow(2, Double(min(rounds, 20)) - 1))
            let delay = max(0.05, retryAt.timeIntervalSince(now)) + Double.random(in: 0...window)
            let kept = try PostgresJSON.encoding(Kept(reservation: nil, campaignDone: campaign, saturated: rounds)).text
            return .outcome(.snoozed(delay: .milliseconds(Int64(delay * 1000)), metadata: kept))
        case .noSender:
            return .outcome(.failed(error: "no sender can send this message", permanent: true))
        }
    }
}

/// Sender and pool ids by name, kept briefly.
actor LookupCache {
    private var senders: [String: (id: Int64?, at: ContinuousClock.Instant)] = [:]
    private var pools: [String: (id: Int64?, at: ContinuousClock.Instant)] = [:]
    private let ttl = Duration.seconds(10)

    func senderID(accountID: Int64, address: String, senders store: SenderStore) async throws -> Int64? {
        let key = "\(accountID)/\(address)"
        if let hit = senders[key], ContinuousClock.now - hit.at < ttl { return hit.id }
        let id = try await store.senderID(accountID: accountID, address: address)
        senders[key] = (id, .now)
        return id
    }

    func poolID(accountID: Int64, name: String, senders store: SenderStore) async throws -> Int64? {
        let key = "\(accountID)/\(name)"
        if let hit = pools[key], ContinuousClock.now - hit.at < ttl { return hit.id }
        let id = try await store.poolID(accountID: accountID, name: name)
        pools[key] = (id, .now)
        return id
    }
}
