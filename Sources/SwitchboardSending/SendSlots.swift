import Foundation
import Logging
import Metrics
import Postgres
import SwitchboardCore
import SwitchboardStore
import SwitchboardWorker

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
        poolBookings = Batcher(maxBatch: 200) { requests in try await senders.reserve(batch: requests, horizon: horizon)
        }
    }
    /// A kept slot (booked before a snooze) may be used at most half a slot interval after it; found
    /// later than that when the job is claimed again (the job was paused, the workers are busy), it
    /// would crowd the next slot, so it is given up and a new one booked. This is what keeps every
    /// 1-second window within the rate at the receiving end.
    static func tolerance(_ reservation: SenderReservation, units: Int) -> Double {
        0.5 * Double(units) / reservation.rate
    }
    let ids = LookupCache()

    enum Decision: Sendable {
        /// Send now from this address (`nil`: the From as given, unthrottled).
        case send(from: String?)
        case outcome(JobOutcome)
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
        /// Consecutive kept slots this job found already passed when it was claimed again.
        var missed: Int?
        /// A booked carrier slot (US A2P 10DLC) not yet reached.
        var carrier: CarrierSlot?
        /// The carrier cap this job waits for (`status` counts them).
        var carrierHeld: CarrierHold?
    }

    struct CarrierHold: Codable {
        var carrier: Carrier
        var cap: CarrierStore.CarrierCap
    }

    /// A slot in a registered campaign's budget for one carrier.
    struct CarrierSlot: Codable {
        var slot: Date
        var campaign: Int64
        var carrier: Carrier
    }

    /// How a plan was carried out.
    private enum Step {
        /// The slot has come (after an inline wait, if any): send.
        case go
        case snooze(JobOutcome)
        /// A kept slot had passed: book a new one.
        case missed
    }

    private func carry(_ plan: SlotPlan, keeping kept: () throws -> Kept) async throws -> Step {
        switch plan {
        case .sendNow: return .go
        case .wait(let wait):
            // After the wait the slot has come: a sleep that overslept by a fraction of a
            // millisecond is not a missed slot.
            try await Task.sleep(for: wait)
            return .go
        case .snooze(let wait):
            return .snooze(.snoozed(delay: wait, metadata: try PostgresJSON.encoding(try kept()).text))
        case .missed: return .missed
        }
    }

    /// How far away a kept slot is now, on the database's clock: its time at the claim, advanced by
    /// this process's monotonic clock since the claim's answer arrived (a handler may start a while
    /// after its batch was claimed).
    static func secondsUntil(_ slot: Date, claimed job: ClaimedJob) -> Double {
        guard let claimedAt = job.claimedAt, let arrived = job.claimArrived else { return slot.timeIntervalSinceNow }
        return slot.timeIntervalSince(claimedAt) - (ContinuousClock.now - arrived).seconds
    }

    /// A fresh booking's wait now, on the database's clock: the slot less the booking's time, less
    /// what has elapsed here since the answer arrived.
    private static func secondsUntil(_ reservation: SenderReservation, answered: ContinuousClock.Instant) -> Double {
        guard let atBooking = reservation.secondsUntilSlotAtBooking else {
            return reservation.slot.timeIntervalSinceNow
        }
        return atBooking - (ContinuousClock.now - answered).seconds
    }

    /// Counts a missed kept slot; a job that keeps missing them is worth a warning (the workers
    /// cannot claim jobs as fast as their slots come: add workers or concurrency).
    private func noteMissed(_ job: ClaimedJob, slot: Date, pool: String, count: Int, logger: Logger) {
        Counter(label: MetricNames.rateLimitMissed, dimensions: [("pool", pool)]).increment()
        let late = Int((-Self.secondsUntil(slot, claimed: job) * 1000).rounded())
        if count >= 3 {
            logger.warning(
                "a job keeps missing its rate-limit slots; booking another (workers may be too busy to claim on time)",
                metadata: ["job.id": "\(job.id)", "missed": "\(count)", "late_ms": "\(late)", "pool": "\(pool)"])
        } else {
            logger.debug(
                "kept slot passed; booking another", metadata: ["job.id": "\(job.id)", "late_ms": "\(late)"])
        }
    }

    private enum KeptSlot {
        case decided(Decision)
        /// The slot had passed: book another (the job's consecutive misses so far).
        case missed(Int)
    }

    /// A sender slot kept across a snooze: used (after an inline wait), snoozed for again, or given up.
    private func useKept(
        _ reservation: SenderReservation, of job: ClaimedJob, kept: Kept?, units: Int, pool: String, logger: Logger,
        keeping: () -> Kept
    ) async throws -> KeptSlot {
        let plan = SlotPlan.planKept(
            secondsUntilSlot: Self.secondsUntil(reservation.slot, claimed: job),
            tolerance: Self.tolerance(reservation, units: units))
        switch try await carry(plan, keeping: keeping) {
        case .go: return .decided(.send(from: reservation.address))
        case .snooze(let outcome): return .decided(.outcome(outcome))
        case .missed:
            let count = (kept?.missed ?? 0) + 1
            noteMissed(job, slot: reservation.slot, pool: pool, count: count, logger: logger)
            return .missed(count)
        }
    }

    /// Under a campaign-wide cap: books the campaign's slot first. Returns nil to go on to the
    /// sender's slot, or the outcome (a snooze keeping the booking) to return now.
    func campaignGate(job: ClaimedJob, campaigns: CampaignStore, campaignID: Int64, logger: Logger) async throws
        -> JobOutcome?
    {
        let kept = Self.kept(job, logger: logger)
        if kept?.campaignDone == true { return nil }
        var missed = 0
        if let booked = kept?.campaign {
            // Like a sender's slot: used on time or not at all, so the campaign never bunches up.
            let plan = SlotPlan.planKept(
                secondsUntilSlot: Self.secondsUntil(booked.slot, claimed: job),
                tolerance: Self.tolerance(booked, units: 1))
            switch try await carry(plan, keeping: { Kept(campaign: booked, missed: kept?.missed) }) {
            case .go: return nil
            case .snooze(let outcome): return outcome
            case .missed:
                missed = (kept?.missed ?? 0) + 1
                noteMissed(job, slot: booked.slot, pool: "campaign", count: missed, logger: logger)
            }
        }
        let booking = try await campaigns.reserveSlot(id: campaignID, horizon: horizon)
        let answered = ContinuousClock.now
        switch booking {
        case .reserved(let booked):
            switch try await carry(
                SlotPlan.plan(secondsUntilSlot: Self.secondsUntil(booked, answered: answered)),
                keeping: { Kept(campaign: booked, missed: missed) })
            {
            case .go, .missed: return nil
            case .snooze(let outcome): return outcome
            }
        case .saturated(let retryAt, let bookedAt):
            return .snoozed(
                delay: .milliseconds(Int64(max(0.05, min(retryAt.timeIntervalSince(bookedAt), 86400)) * 1000)),
                metadata: "{}")
        case .noSender: return nil
        }
    }

    /// The bookings a job kept in its metadata. A metadata that is not what this code wrote (a
    /// hand edit, an older version) is reported and ignored: the job books afresh.
    static func kept(_ job: ClaimedJob, logger: Logger) -> Kept? {
        guard job.metadata.text != "{}" else { return nil }
        do {
            return try job.metadata.decode(Kept.self)
        } catch {
            logger.warning(
                "job metadata is not a kept booking; booking afresh",
                metadata: ["job.id": "\(job.id)", "error": "\(error)"])
            return nil
        }
    }

    /// Where a fresh slot comes from: booked (with when the answer arrived), or an outcome
    /// reached without one (an unthrottled sender, an unknown pool).
    enum Booking {
        case booked(ReservationResult, answered: ContinuousClock.Instant)
        case decided(Decision)
    }

    /// The one slot decider for messages and calls: a slot kept across a snooze is used (after
    /// an inline wait, or snoozed for again), or, when it has passed, given up; otherwise `book`
    /// books a fresh one, which is used however late its answer came. They differ only in how a
    /// slot is booked and how many units it takes.
    private func decide(
        job: ClaimedJob, units: Int, label: String, campaignDone: Bool?, logger: Logger,
        book: () async throws -> Booking
    ) async throws -> Decision {
        let kept = Self.kept(job, logger: logger)
        var missed = 0
        if let reservation = kept?.reservation {
            switch try await useKept(
                reservation, of: job, kept: kept, units: units, pool: label, logger: logger,
                keeping: { Kept(reservation: reservation, campaignDone: campaignDone, missed: kept?.missed) })
            {
            case .decided(let decision): return decision
            case .missed(let count): missed = count
            }
        }
        switch try await book() {
        case .decided(let decision):
            return decision
        case .booked(let result, let answered):
            return try await act(
                on: result, answered: answered, units: units, keeping: campaignDone,
                saturatedRounds: kept?.saturated, missed: missed)
        }
    }

    /// Messages: a slot on the sender (or the best sender of the pool), `segments` units.
    func decide(
        job: ClaimedJob, spec: MessageSpec, accountID: Int64, campaignDone: Bool = false, logger: Logger
    ) async throws -> Decision {
        let units = spec.channel == .whatsapp ? 1 : max(1, spec.segments)
        // Carried into any snooze, so a used campaign slot is not booked again.
        return try await decide(
            job: job, units: units, label: spec.pool ?? "", campaignDone: campaignDone ? true : nil, logger: logger
        ) {
            try await book(spec: spec, accountID: accountID, units: units)
        }
    }

    /// Calls: one slot per call on the account's calls-per-second limit.
    func decideCall(job: ClaimedJob, accounts: AccountStore, accountID: Int64, logger: Logger) async throws
        -> Decision
    {
        try await decide(job: job, units: 1, label: "calls", campaignDone: nil, logger: logger) {
            .booked(try await accounts.reserveCallSlot(accountID: accountID, horizon: horizon), answered: .now)
        }
    }

    private func book(spec: MessageSpec, accountID: Int64, units: Int) async throws -> Booking {
        let result: ReservationResult
        if let poolName = spec.pool {
            guard let poolID = try await ids.poolID(accountID: accountID, name: poolName, senders: senders) else {
                return .decided(
                    .outcome(.failed(error: "pool: account has no pool named '\(poolName)'", permanent: true)))
            }
            let recipient = try ChannelAddress(parsing: spec.to, field: "to")
            let request = PoolSelection.Request(
                pool: poolID, recipient: spec.to, countryCode: recipient.number.countryCode,
                areaCode: recipient.number.areaCode, capability: spec.channel.rawValue, segments: units)
            result = try await poolBookings.submit(request)
            if result == .noSender {
                return .decided(
                    .outcome(
                        .failed(
                            error: "pool: '\(poolName)' has no enabled sender that can send \(spec.channel.rawValue)",
                            permanent: true)))
            }
        } else if let from = spec.from,
            let senderID = try await ids.senderID(accountID: accountID, address: from, senders: senders)
        {
            result = try await senders.reserve(senderID: senderID, segments: units, horizon: horizon)
        } else {
            // A From that is not a registered sender has no configured limit.
            return .decided(.send(from: nil))
        }
        let answered = ContinuousClock.now
        switch result {
        case .reserved(let reservation):
            Recorder(label: MetricNames.rateLimitWait, dimensions: [("pool", spec.pool ?? "")])
                .record(max(0, Self.secondsUntil(reservation, answered: answered)))
        case .saturated:
            Counter(label: MetricNames.rateLimitSaturated, dimensions: [("pool", spec.pool ?? "")]).increment()
        case .noSender: break
        }
        return .booked(result, answered: answered)
    }

    /// Carries out a fresh booking: its slot is used however late the answer came (see `SlotPlan.plan`).
    private func act(
        on result: ReservationResult, answered: ContinuousClock.Instant, units: Int, keeping campaign: Bool? = nil,
        saturatedRounds: Int?, missed: Int
    ) async throws -> Decision {
        switch result {
        case .reserved(let reservation):
            let plan = SlotPlan.plan(secondsUntilSlot: Self.secondsUntil(reservation, answered: answered))
            switch try await carry(
                plan, keeping: { Kept(reservation: reservation, campaignDone: campaign, missed: missed) })
            {
            case .go, .missed: return .send(from: reservation.address)
            case .snooze(let outcome): return .outcome(outcome)
            }
        case .saturated(let retryAt, let bookedAt):
            let rounds = (saturatedRounds ?? 0) + 1
            let delay = SlotPlan.saturatedDelay(
                secondsUntilFree: retryAt.timeIntervalSince(bookedAt), rounds: rounds, horizon: horizon,
                jitter: Double.random(in: 0...1))
            let kept = try PostgresJSON.encoding(Kept(campaignDone: campaign, saturated: rounds)).text
            return .outcome(.snoozed(delay: delay, metadata: kept))
        case .noSender:
            return .outcome(.failed(error: "no sender can send this message", permanent: true))
        }
    }
}

/// Sender and pool ids by name, kept briefly (an unknown name too: `nil`).
actor LookupCache {
    private var senders = ExpiringCache<String, Int64?, ContinuousClock.Instant>(ttl: .seconds(10))
    private var pools = ExpiringCache<String, Int64?, ContinuousClock.Instant>(ttl: .seconds(10))

    func senderID(accountID: Int64, address: String, senders store: SenderStore) async throws -> Int64? {
        let key = "\(accountID)/\(address)"
        if let hit = senders.value(for: key, now: .now) { return hit }
        let id = try await store.senderID(accountID: accountID, address: address)
        senders.store(id, for: key, now: .now)
        return id
    }

    func poolID(accountID: Int64, name: String, senders store: SenderStore) async throws -> Int64? {
        let key = "\(accountID)/\(name)"
        if let hit = pools.value(for: key, now: .now) { return hit }
        let id = try await store.poolID(accountID: accountID, name: name)
        pools.store(id, for: key, now: .now)
        return id
    }
}
