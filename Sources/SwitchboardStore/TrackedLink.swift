import Crypto
import Foundation
import SwitchboardCore

/// Tracked links (`{{link "https://…"}}` in a campaign's template): the short code in a message
/// says which link and which recipient, and carries a MAC so nobody can make up codes.
///
/// A code is `L` (the length of the link's id, one base-62 digit), the link's id, the
/// recipient's number within the campaign, then eight base-62 digits of HMAC-SHA256 over both
/// under the database's link key: about 18 characters, unguessable (a guess has one chance in
/// 2^47), and read back without a lookup, so the redirect is one indexed read of the link.
/// The key link codes are signed with (32 bytes from `switchboard.link_keys`).
public struct LinkKey: Sendable, Equatable {
    let bytes: Data

    public init(_ bytes: Data) { self.bytes = bytes }

    /// A random key (tests).
    public static func random() -> LinkKey {
        LinkKey(SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) })
    }

    var symmetric: SymmetricKey { SymmetricKey(data: bytes) }
}

public enum TrackedLink {
    public static let macLength = 8
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// What a code names.
    public struct Target: Sendable, Equatable {
        public var linkID: Int64
        /// The recipient's `seq` in the campaign (0: not a campaign recipient).
        public var recipient: Int64

        public init(linkID: Int64, recipient: Int64) {
            self.linkID = linkID
            self.recipient = recipient
        }
    }

    public static func code(_ target: Target, key: LinkKey) -> String {
        let link = base62(target.linkID)
        return String(decoding: [alphabet[link.count]], as: UTF8.self) + link + base62(target.recipient)
            + mac(target, key: key)
    }

    /// The target of a well-formed code with a valid MAC; nil for anything else (compared in
    /// constant time).
    public static func target(of code: some StringProtocol, key: LinkKey) -> Target? {
        let bytes = Array(code.utf8)
        guard bytes.count >= 3 + macLength, bytes.count <= 40, let linkLength = digit(bytes[0]), linkLength > 0,
            bytes.count >= 1 + linkLength + 1 + macLength
        else { return nil }
        let link = bytes[1..<(1 + linkLength)]
        let recipient = bytes[(1 + linkLength)..<(bytes.count - macLength)]
        guard let linkID = number(link), let recipientNumber = number(recipient) else { return nil }
        let target = Target(linkID: linkID, recipient: recipientNumber)
        guard
            ConstantTime.equals(
                mac(target, key: key), String(decoding: bytes[(bytes.count - macLength)...], as: UTF8.self))
        else { return nil }
        return target
    }

    static func mac(_ target: Target, key: LinkKey) -> String {
        let message = Data("switchboard-link:\(target.linkID):\(target.recipient)".utf8)
        let tag = HMAC<SHA256>.authenticationCode(for: message, using: key.symmetric)
        var value = tag.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        var digits: [UInt8] = []
        for _ in 0..<macLength {
            digits.append(alphabet[Int(value % 62)])
            value /= 62
        }
        return String(decoding: digits, as: UTF8.self)
    }

    static func base62(_ value: Int64) -> String {
        var value = UInt64(max(0, value))
        var digits: [UInt8] = []
        repeat {
            digits.append(alphabet[Int(value % 62)])
            value /= 62
        } while value > 0
        return String(decoding: digits.reversed(), as: UTF8.self)
    }

    static func digit(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): Int(byte - UInt8(ascii: "A")) + 10
        case UInt8(ascii: "a")...UInt8(ascii: "z"): Int(byte - UInt8(ascii: "a")) + 36
        default: nil
        }
    }

    static func number(_ bytes: ArraySlice<UInt8>) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 10 else { return nil }
        var value: Int64 = 0
        for byte in bytes {
            guard let digit = digit(byte) else { return nil }
            value = value * 62 + Int64(digit)
        }
        return value
    }

    /// Link previews and crawlers fetch links too: counted apart from people's clicks.
    public static func isBot(userAgent: String?) -> Bool {
        guard let agent = userAgent?.lowercased(), !agent.isEmpty else { return true }
        return botMarkers.contains { agent.contains($0) }
    }

    static let botMarkers = [
        "bot", "crawler", "spider", "preview", "facebookexternalhit", "facebot", "whatsapp", "telegram", "slack",
        "discord", "skypeuripreview", "embedly", "quora link", "outbrain", "pinterest", "vkshare", "w3c_validator",
        "curl/", "wget/", "python-requests", "python-urllib", "go-http-client", "okhttp", "java/", "libwww",
        "httpclient",
        "headlesschrome", "lighthouse", "bitlybot", "google-pagerenderer", "googleimageproxy", "yahoo! slurp",
        "applebot", "linkedinbot", "snapchat", "iframely", "nuzzel", "tumblr", "mastodon", "bingpreview", "validator",
        "monitor", "scanner", "proofpoint", "mimecast", "barracuda", "safelinks",
    ]
}
