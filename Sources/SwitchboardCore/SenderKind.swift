import Foundation

/// Kinds of Twilio senders and their default throughput (segments per second; twilio-facts.md §8).
public enum SenderKind: String, Sendable, CaseIterable, Codable {
    case longCode = "long_code"
    case tollFree = "toll_free"
    case shortCode = "short_code"
    case whatsapp
    case alphanumeric

    /// US/CA long code 1, toll-free 3, short code 100, WhatsApp 10, alphanumeric sender ID 10.
    public var defaultRate: Double {
        switch self {
        case .longCode: 1
        case .tollFree: 3
        case .shortCode: 100
        case .whatsapp: 10
        case .alphanumeric: 10
        }
    }

    public var defaultCapabilities: [String] {
        switch self {
        case .longCode, .tollFree: ["sms", "mms", "voice"]
        case .shortCode: ["sms", "mms"]
        case .whatsapp: ["whatsapp"]
        case .alphanumeric: ["sms"]
        }
    }

    public static let capabilities: Set<String> = ["sms", "mms", "voice", "whatsapp"]
}

/// What to do with a reserved send slot: send now, wait briefly in the handler, snooze the job
/// until the slot (so a long wait does not hold a worker's concurrency), or, for a slot kept across
/// a snooze that has already passed, book a new one.
///
/// Every time here is on the database's clock (a slot minus the moment it was booked or the job
/// was claimed), never a host's own: hosts' clocks differ, and a booking's round trip is no reason
/// to give its slot up.
public enum SlotPlan: Sendable, Equatable {
    case sendNow
    case wait(Duration)
    case snooze(Duration)
    case missed

    /// A slot just booked. `secondsUntilSlot` may be negative (the slot had come when it was
    /// booked): it is sent at once. A fresh slot is never judged missed — giving it up would only
    /// book another that the same round trip makes just as late, for ever (the livelock of
    /// issue 11). Waits up to `maxInlineWait` happen in the handler. A snooze ends `lead` before
    /// the slot, so the job is claimed again in time and waits the rest in the handler: claiming
    /// has some jitter, sleeping has little.
    public static func plan(
        secondsUntilSlot: Double, maxInlineWait: Duration = .milliseconds(1500), lead: Duration = .milliseconds(600)
    ) -> SlotPlan {
        guard secondsUntilSlot > 0.002 else { return .sendNow }
        // Bounded: a horizon is hours at most; a bad value must not trap the conversion.
        let wait = Duration.microseconds(Int64((min(secondsUntilSlot, 1e7) * 1_000_000).rounded()))
        return wait <= maxInlineWait ? .wait(wait) : .snooze(wait - lead)
    }

    /// A slot kept in the job's metadata across a snooze, judged when the job was claimed again:
    /// passed by more than `tolerance` seconds, it would crowd the slots booked after it, so it is
    /// given up (`missed`) and the job books a fresh one, which `plan` never gives up.
    public static func planKept(
        secondsUntilSlot: Double, tolerance: Double, maxInlineWait: Duration = .milliseconds(1500),
        lead: Duration = .milliseconds(600)
    ) -> SlotPlan {
        guard secondsUntilSlot >= -tolerance else { return .missed }
        return plan(secondsUntilSlot: secondsUntilSlot, maxInlineWait: maxInlineWait, lead: lead)
    }

    /// How long a job waits when every sender was booked beyond the horizon: until the first
    /// slot frees (`secondsUntilFree`, bounded to 50 ms…1 day), plus a share (`jitter`, 0…1) of
    /// a window that doubles each consecutive time (`rounds`: 1 s, 2 s, 4 s … at most half the
    /// horizon). A long backlog must not poll: its retry rate decays instead of staying
    /// proportional to its size.
    public static func saturatedDelay(
        secondsUntilFree: Double, rounds: Int, horizon: Duration, jitter: Double
    ) -> Duration {
        let window = min(horizon.seconds / 2, pow(2, Double(min(max(rounds, 1), 20)) - 1))
        let base = secondsUntilFree.isFinite ? max(0.05, min(secondsUntilFree, 86400)) : 0.05
        let delay = base + min(max(jitter, 0), 1) * window
        return .milliseconds(Int64((delay * 1000).rounded()))
    }
}
