import Crypto
import Foundation
import SwitchboardCore

/// A subscription's signing secret: `whsec_` and the base64 of 32 random bytes, as the Standard
/// Webhooks specification writes it (so receivers can verify with its libraries, or with a few
/// lines of their own: README, "Event webhooks").
public struct WebhookSecret: Sendable, Equatable {
    public let bytes: [UInt8]
    static let prefix = "whsec_"

    /// A new random secret.
    public init() {
        var generator = SystemRandomNumberGenerator()
        bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// Reads `whsec_…`; the error names the field and never repeats the secret.
    public init(parsing text: String, field: String = "secret") throws(InputError) {
        guard text.hasPrefix(Self.prefix), let decoded = Data(base64Encoded: String(text.dropFirst(Self.prefix.count)))
        else {
            throw InputError(field: field, problem: "is not a signing secret (expected whsec_ and base64)")
        }
        guard (24...64).contains(decoded.count) else {
            throw InputError(field: field, problem: "must hold 24 to 64 bytes, not \(decoded.count)")
        }
        bytes = Array(decoded)
    }

    /// `whsec_…`: shown once, when a subscription is made or its secret rotated.
    public var text: String { Self.prefix + Data(bytes).base64EncodedString() }
}

/// Signs an event delivery the way the Standard Webhooks specification does: HMAC-SHA256 of
/// `id.timestamp.body` under each current secret, sent as `webhook-id`, `webhook-timestamp`
/// (Unix seconds) and `webhook-signature` (`v1,<base64>`, several separated by spaces while a
/// rotated secret is still honoured). The id is the event's, the same on every retry, so a
/// receiver deduplicates by it; the timestamp bounds replays.
public enum EventSignature {
    /// How far a receiver should accept a timestamp from its own clock.
    public static let tolerance: Int64 = 300

    /// The three headers for a delivery of `body` as event `id` at `timestamp`.
    public static func headers(id: String, timestamp: Int64, body: [UInt8], secrets: [WebhookSecret]) -> [(
        name: String, value: String
    )] {
        let signatures = secrets.map { "v1," + signature(id: id, timestamp: timestamp, body: body, secret: $0) }
        return [
            ("webhook-id", id), ("webhook-timestamp", String(timestamp)),
            ("webhook-signature", signatures.joined(separator: " ")),
        ]
    }

    /// base64(HMAC-SHA256(secret, "id.timestamp.body")).
    public static func signature(id: String, timestamp: Int64, body: [UInt8], secret: WebhookSecret) -> String {
        var content = Array("\(id).\(timestamp).".utf8)
        content += body
        let mac = HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: secret.bytes))
        return Data(mac).base64EncodedString()
    }

    /// Checks a delivery as a receiver would (the tests hold the README's snippets to the same
    /// answers): a timestamp within `tolerance` of `now`, and one `v1` signature that matches.
    public static func verify(
        id: String, timestamp: String, signatures: String, body: [UInt8], secret: WebhookSecret, now: Int64
    ) throws(InputError) {
        guard let sent = Int64(timestamp) else {
            throw InputError(field: "webhook-timestamp", problem: "'\(timestamp)' is not a Unix time")
        }
        guard abs(now - sent) <= tolerance else {
            throw InputError(field: "webhook-timestamp", problem: "is more than \(tolerance) s from now")
        }
        let expected = signature(id: id, timestamp: sent, body: body, secret: secret)
        let matches = signatures.split(separator: " ").contains { candidate in
            candidate.hasPrefix("v1,") && ConstantTime.equals(candidate.dropFirst(3), expected)
        }
        guard matches else { throw InputError(field: "webhook-signature", problem: "no signature matches") }
    }
}
