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

/// What to do with a reserved send slot: send now, wait briefly in the handler, or snooze the
/// job until the slot (so a long wait does not hold a worker's concurrency).
public enum SlotPlan: Sendable, Equatable {
    case sendNow
    case wait(Duration)
    case snooze(Duration)

    /// `secondsUntilSlot` may be negative (the slot has come). Waits up to `maxInlineWait` happen in
    /// the handler. A snooze ends `lead` before the slot, so the job is claimed again in time and
    /// waits the rest in the handler: claiming has some jitter, sleeping has little.
    public static func plan(
        secondsUntilSlot: Double, maxInlineWait: Duration = .milliseconds(1500), lead: Duration = .milliseconds(600)
    ) -> SlotPlan {
        if secondsUntilSlot <= 0.002 { return .sendNow }
        let wait = Duration.milliseconds(Int64((secondsUntilSlot * 1000).rounded(.up)))
        return wait <= maxInlineWait ? .wait(wait) : .snooze(wait - lead)
    }
}
