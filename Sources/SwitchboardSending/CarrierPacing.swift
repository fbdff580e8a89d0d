import Foundation
import Logging
import Metrics
import Postgres
import SwitchboardCore
import SwitchboardStore
import SwitchboardWorker
import Twilio

/// Carrier-aware pacing for US A2P 10DLC: an SMS to a US number from a sender (or pool)
/// assigned to a registered campaign first books a slot in the campaign's budget for the
/// recipient's carrier, counted against its brand's daily cap for that carrier; over a cap the
/// job waits for the next window (snoozed, no attempt used: the next US Pacific day for a daily
/// cap, where the recipient's send window applies again), so nothing is sent to fail with
/// 30022/30023. The carrier comes from Twilio Lookup, cached per number.
///
/// Every send goes out within `tolerance` seconds after its slot, and slots are spaced so that
/// such sends keep every 60-second window within the per-minute budget; a send that would be
/// later (its sender was booked further ahead) gives its slot up and books again.
struct CarrierPacing: Sendable {
    let carriers: CarrierStore
    let client: TwilioClient
    let horizon: Duration
    /// The window carriers meter the per-minute budget over: a minute (tests shorten it; the
    /// budget scales with it).
    let window: Duration
    /// Shares concurrent sends' cache reads.
    let cachedReads: Batcher<String, Carrier?>
    let campaigns = PacedCampaignCache()

    /// Seconds a send may follow its slot (slots are spaced (60 + tolerance) / budget apart).
    static let tolerance = 2.0
    /// A send is let through only this long after its slot: the rest of the tolerance is the
    /// request's way to Twilio.
    static let sendDeadline = 1.5
    /// A kept slot found later than this when the job is claimed again is given up.
    static let keptTolerance = 0.25
    /// Carriers change when numbers are ported: a cached answer is used for 30 days.
    static let lookupMaxAge: Duration = .seconds(30 * 86_400)

    init(carriers: CarrierStore, client: TwilioClient, horizon: Duration, window: Duration) {
        self.carriers = carriers
        self.client = client
        self.horizon = horizon
        self.window = window
        cachedReads = Batcher { phones in
            let found = try await carriers.cachedCarriers(phones, maxAge: Self.lookupMaxAge)
            return phones.map { found[$0] }
        }
    }

    /// The recipient's carrier: cached, else looked up (and cached). A failed lookup is paced as
    /// `unknown` (a minor carrier's budget) and not cached, so the next send asks again.
    func carrier(of phone: String, credentials: TwilioCredentials, logger: Logger) async throws -> Carrier {
        if let cached = try await cachedReads.submit(phone) { return cached }
        do {
            let answer = try await client.lookupLineType(phone, credentials: credentials)
            let line = answer.lineTypeIntelligence
            let carrier = Carrier(
                carrierName: line?.carrierName, mobileCountryCode: line?.mobileCountryCode,
                mobileNetworkCode: line?.mobileNetworkCode)
            try await carriers.store(
                CarrierStore.LookupRecord(
                    phone: phone, carrier: carrier, carrierName: line?.carrierName, lineType: line?.type,
                    mobileCountryCode: line?.mobileCountryCode, mobileNetworkCode: line?.mobileNetworkCode))
            return carrier
        } catch let failure as TwilioClient.Failure {
            logger.warning(
                "carrier lookup failed; pacing as an unknown carrier",
                metadata: ["error": "\(failure)", "to": "\(phone)"])
            return .unknown
        }
    }

    /// The carrier slot this send goes out in, or the outcome that holds it back. `kept` is what
    /// an earlier pass of this job booked. Returns nil when the send is not paced (not an SMS to a
    /// US number under a registered campaign).
    func admit(
        job: ClaimedJob, spec: MessageSpec, account: AccountCache.Entry, kept: SendSlots.Kept?, campaignDone: Bool,
        logger: Logger
    ) async throws -> PacedSlot? {
        guard spec.channel == .sms, let to = try? PhoneNumber(parsing: spec.to, field: "to"), to.countryCode == 1,
            let campaignID = try await campaigns.campaign(
                accountID: account.record.id, pool: spec.pool, from: spec.from, store: carriers)
        else { return nil }
        let units = max(1, spec.segments)
        func keeping(_ slot: SendSlots.CarrierSlot?, held: SendSlots.CarrierHold? = nil) throws -> String {
            try PostgresJSON.encoding(
                SendSlots.Kept(campaignDone: campaignDone ? true : nil, carrier: slot, carrierHeld: held)
            ).text
        }
        if let booked = kept?.carrier, booked.campaign == campaignID {
            let plan = SlotPlan.planKept(
                secondsUntilSlot: SendSlots.secondsUntil(booked.slot, claimed: job), tolerance: Self.keptTolerance)
            switch plan {
            case .sendNow:
                return PacedSlot(
                    carrier: booked.carrier, slot: booked.slot, started: Self.startedAt(booked.slot, claimed: job))
            case .wait(let wait):
                try await Task.sleep(for: wait)
                return PacedSlot(carrier: booked.carrier, slot: booked.slot, started: .now)
            case .snooze(let wait): throw Stop(outcome: .snoozed(delay: wait, metadata: try keeping(booked)))
            case .missed:
                Counter(label: MetricNames.carrierSlotMissed, dimensions: [("carrier", booked.carrier.rawValue)])
                    .increment()
            }
        }
        let carrier = try await carrier(of: to.e164, credentials: account.credentials, logger: logger)
        let booking = try await carriers.reserve(
            campaignID: campaignID, carrier: carrier, units: units, horizon: horizon, tolerance: Self.tolerance,
            window: window)
        let answered = ContinuousClock.now
        switch booking {
        case .noCampaign:
            return nil
        case .held(let retryAt, let cap, let bookedAt):
            Counter(
                label: MetricNames.carrierHeld, dimensions: [("carrier", carrier.rawValue), ("cap", cap.rawValue)]
            ).increment()
            let wait = max(0.05, min(retryAt.timeIntervalSince(bookedAt), 2 * 86_400))
            throw Stop(
                outcome: .snoozed(
                    delay: .milliseconds(Int64(wait * 1000)),
                    metadata: try keeping(nil, held: SendSlots.CarrierHold(carrier: carrier, cap: cap))))
        case .reserved(let slot, let bookedAt):
            let secondsUntil = slot.timeIntervalSince(bookedAt) - (ContinuousClock.now - answered).seconds
            switch SlotPlan.plan(secondsUntilSlot: secondsUntil) {
            case .sendNow, .missed:
                return PacedSlot(carrier: carrier, slot: slot, started: answered - .seconds(max(0, -secondsUntil)))
            case .wait(let wait):
                try await Task.sleep(for: wait)
                return PacedSlot(carrier: carrier, slot: slot, started: .now)
            case .snooze(let wait):
                let kept = SendSlots.CarrierSlot(slot: slot, campaign: campaignID, carrier: carrier)
                throw Stop(outcome: .snoozed(delay: wait, metadata: try keeping(kept)))
            }
        }
    }

    /// When (on this process's clock) a kept slot came, from the claim's reading of the database clock.
    private static func startedAt(_ slot: Date, claimed job: ClaimedJob) -> ContinuousClock.Instant {
        .now - .seconds(max(0, -SendSlots.secondsUntil(slot, claimed: job)))
    }
}

/// A carrier slot that has come: the send must go out by `sendDeadline` after `started`.
struct PacedSlot: Sendable {
    var carrier: Carrier
    var slot: Date
    /// This process's clock when the slot came.
    var started: ContinuousClock.Instant

    /// Whether a send now is still within the slot's window; if not, the slot is given up.
    var stillOpen: Bool { (ContinuousClock.now - started).seconds <= CarrierPacing.sendDeadline }
}

/// Which registered campaign (if any) a pool or a From number sends under, kept briefly.
actor PacedCampaignCache {
    private var campaigns = ExpiringCache<String, Int64?, ContinuousClock.Instant>(ttl: .seconds(10))

    func campaign(accountID: Int64, pool: String?, from: String?, store: CarrierStore) async throws -> Int64? {
        let key = "\(accountID)/\(pool ?? "")/\(from ?? "")"
        if let hit = campaigns.value(for: key, now: .now) { return hit }
        let id = try await store.pacedCampaign(accountID: accountID, pool: pool, from: from)
        campaigns.store(id, for: key, now: .now)
        return id
    }
}
