import Foundation

/// The events a subscription can ask for (`switchboard events subscribe --events …`). Each is
/// written in the same transaction as the change that caused it.
public enum EventType: String, Sendable, CaseIterable, Codable {
    /// A message reached `sent` at Twilio (or the carrier, for channels without delivery receipts).
    case messageSent = "message.sent"
    /// The carrier confirmed delivery (WhatsApp: also `read`, which follows as a second event).
    case messageDelivered = "message.delivered"
    /// Twilio reported `undelivered` or `failed` (with the error code and its meaning).
    case messageFailed = "message.failed"
    /// A WhatsApp message was read.
    case messageRead = "message.read"
    /// Someone wrote to one of the numbers (not an opt-out keyword); bound to the message it
    /// answers when there is one.
    case replyReceived = "reply.received"
    /// A call reached a final status: completed, busy, no-answer, failed or canceled.
    case callCompleted = "call.completed"
    /// A voice agent's session ended: its outcome, answers and transcript.
    case sessionCompleted = "session.completed"
    /// A recorded call's recording is ready at Twilio (or there was nothing to record).
    case recordingCompleted = "recording.completed"
    /// An address opted out or back in, by keyword, the API, an import or Twilio's error 21610.
    case optoutChanged = "optout.changed"
    /// A campaign has no recipient left to send to and no job still running.
    case campaignFinished = "campaign.finished"
    /// Twilio published a message's price (some time after it was sent), or it never did by the
    /// give-up age (`priceStatus: unknown`, a null price).
    case messagePriced = "message.priced"
    /// Twilio published a call's price, or never did by the give-up age.
    case callPriced = "call.priced"

    /// What `--events` accepts besides the names: every type.
    public static let all = "*"

    public var summary: String {
        switch self {
        case .messageSent: "Twilio or the carrier accepted a message"
        case .messageDelivered: "a message was delivered"
        case .messageFailed: "a message was undelivered or failed (error code and meaning)"
        case .messageRead: "a WhatsApp message was read"
        case .replyReceived: "someone replied or wrote in"
        case .callCompleted: "a call ended (completed, busy, no-answer, failed, canceled)"
        case .sessionCompleted: "a voice agent's session ended (outcome, answers, transcript)"
        case .recordingCompleted: "a call's recording is ready at Twilio (its URL, duration, channels)"
        case .optoutChanged: "an address opted out or back in"
        case .campaignFinished: "a campaign sent to everyone it will"
        case .messagePriced: "Twilio published what a message cost (or never did: unknown)"
        case .callPriced: "Twilio published what a call cost (or never did: unknown)"
        }
    }

    /// Parses a comma-separated list (`message.delivered,reply.received`, or `*`); the error names
    /// `field` and lists what exists. Duplicates collapse; the order is kept.
    public static func parseList(_ text: String, field: String = "events") throws(InputError) -> [String] {
        var types: [String] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let name = part.trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else {
                throw InputError(field: field, problem: "has an empty entry (write names separated by commas)")
            }
            guard name == all || EventType(rawValue: name) != nil else {
                let known = allCases.map(\.rawValue).joined(separator: ", ")
                throw InputError(
                    field: field, problem: "'\(name.prefix(64))' is not an event type (known: \(known), or *)")
            }
            if !types.contains(name) { types.append(name) }
        }
        guard !types.isEmpty else { throw InputError(field: field, problem: "must name at least one event type") }
        return types.contains(all) ? [all] : types
    }
}

extension TwilioStatus {
    /// The event a status callback moving to this status emits, if any.
    public var eventType: EventType? {
        switch self {
        case .message(let status):
            switch status {
            case .sent: .messageSent
            case .delivered, .partiallyDelivered: .messageDelivered
            case .undelivered, .failed, .canceled: .messageFailed
            case .read: .messageRead
            case .accepted, .scheduled, .queued, .sending: nil
            }
        case .call(let status): status.isFinal ? .callCompleted : nil
        }
    }
}
