/// A message's status as Twilio reports it (twilio-facts.md §5.3). Status callbacks arrive out
/// of order, so a row only moves forward: a late `sent` must never overwrite `delivered`.
public enum MessageStatus: String, Sendable, Equatable, CaseIterable, Codable {
    case accepted, scheduled, queued, sending, sent, delivered, undelivered, failed, canceled
    case partiallyDelivered = "partially_delivered"
    /// WhatsApp: after `delivered` only.
    case read

    /// Progress; final statuses share the highest rank so they never replace each other, and
    /// `read` comes after `delivered`.
    var rank: Int {
        switch self {
        case .accepted, .scheduled: 0
        case .queued: 1
        case .sending: 2
        case .sent: 3
        case .delivered, .undelivered, .failed, .canceled, .partiallyDelivered: 4
        case .read: 5
        }
    }

    public var isFinal: Bool { rank >= 4 }

    /// Whether a message stored at `stored` (as text: it may be a status this version does not
    /// know, which any known one replaces) takes this status.
    public func advances(from stored: String) -> Bool {
        guard let current = MessageStatus(rawValue: stored) else { return true }
        if self == .read { return current == .delivered || current.rank < 4 }
        return rank > current.rank
    }
}

/// A call's status as Twilio reports it (twilio-facts.md §6); calls move forward the same way.
public enum CallStatus: String, Sendable, Equatable, CaseIterable, Codable {
    case queued, initiated, ringing
    case inProgress = "in-progress"
    case completed, busy, failed
    case noAnswer = "no-answer"
    case canceled

    var rank: Int {
        switch self {
        case .queued: 0
        case .initiated: 1
        case .ringing: 2
        case .inProgress: 3
        case .completed, .busy, .failed, .noAnswer, .canceled: 4
        }
    }

    public var isFinal: Bool { rank >= 4 }

    /// Whether a call stored at `stored` takes this status (an unknown stored one is replaced).
    public func advances(from stored: String) -> Bool {
        guard let current = CallStatus(rawValue: stored) else { return true }
        return rank > current.rank
    }
}

/// A status callback's status: a message's or a call's.
public enum TwilioStatus: Sendable, Equatable {
    case message(MessageStatus)
    case call(CallStatus)

    public var rawValue: String {
        switch self {
        case .message(let status): status.rawValue
        case .call(let status): status.rawValue
        }
    }

    public var isFinal: Bool {
        switch self {
        case .message(let status): status.isFinal
        case .call(let status): status.isFinal
        }
    }

    public func advances(from stored: String) -> Bool {
        switch self {
        case .message(let status): status.advances(from: stored)
        case .call(let status): status.advances(from: stored)
        }
    }
}

public enum DeliveryStatus {
    /// Delivery error codes after which the address is suppressed: the recipient opted out
    /// (21610), or the number cannot receive messages at all (30005 unknown handset, 30006
    /// landline or unreachable carrier). Others (30003 handset off, 30007 filtered) are not the
    /// recipient's doing and may pass.
    public static let suppressingErrorCodes: Set<Int> = [21610, 30005, 30006]
}
