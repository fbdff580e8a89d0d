/// The order of Twilio's message and call statuses, so a status callback only moves a row forward:
/// callbacks arrive out of order, and a late `sent` must never overwrite `delivered`
/// (twilio-facts.md §5.3 and §6).
public enum DeliveryStatus {
    /// Message statuses by progress. Final ones share the highest rank so they never replace each
    /// other; `read` (WhatsApp) comes after `delivered` only.
    static let messageRanks: [String: Int] = [
        "accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3,
        "delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4, "partially_delivered": 4,
        "read": 5,
    ]
    static let callRanks: [String: Int] = [
        "queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3,
        "completed": 4, "busy": 4, "failed": 4, "no-answer": 4, "canceled": 4,
    ]

    public static let finalMessageStatuses: Set<String> = [
        "delivered", "undelivered", "failed", "canceled", "partially_delivered", "read",
    ]
    public static let finalCallStatuses: Set<String> = ["completed", "busy", "failed", "no-answer", "canceled"]

    public static func isKnownMessageStatus(_ status: String) -> Bool { messageRanks[status] != nil }
    public static func isKnownCallStatus(_ status: String) -> Bool { callRanks[status] != nil }

    /// Whether a message at `current` should take `next`.
    public static func messageAdvances(from current: String, to next: String) -> Bool {
        guard let to = messageRanks[next] else { return false }
        guard let from = messageRanks[current] else { return true }
        if next == "read" { return current == "delivered" || from < 4 }
        return to > from
    }

    /// Whether a call at `current` should take `next`.
    public static func callAdvances(from current: String, to next: String) -> Bool {
        guard let to = callRanks[next] else { return false }
        guard let from = callRanks[current] else { return true }
        return to > from
    }

    /// Delivery error codes after which the address is suppressed: the recipient opted out
    /// (21610), or the number cannot receive messages at all (30005 unknown handset, 30006
    /// landline or unreachable carrier). Others (30003 handset off, 30007 filtered) are not the
    /// recipient's doing and may pass.
    public static let suppressingErrorCodes: Set<Int> = [21610, 30005, 30006]
}
