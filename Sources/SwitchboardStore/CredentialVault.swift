import Crypto
import Foundation

/// Encrypts Twilio secrets at rest with AES-GCM under a master key.
///
/// Keys come from `SWITCHBOARD_MASTER_KEY` (or the file named by `SWITCHBOARD_MASTER_KEY_FILE`):
/// one or more `id:base64key` entries separated by commas, each key 32 random bytes
/// (`openssl rand -base64 32`). The first entry encrypts; every entry decrypts, so keys rotate by
/// putting the new one first and re-sealing (`switchboard accounts rotate-key`).
public struct CredentialVault: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    struct Key: Sendable {
        var id: String
        /// Raw key bytes (`SymmetricKey` is not `Sendable`; one is made per use).
        var bytes: Data
        var key: SymmetricKey { SymmetricKey(data: bytes) }
    }

    let keys: [Key]

    /// The id of the key new secrets are sealed with.
    public var currentKeyID: String { keys[0].id }

    /// Parses `id:base64[,id:base64…]`. A bare base64 key gets the id `k1`.
    public init(keySpecification: String, source: String = "SWITCHBOARD_MASTER_KEY") throws {
        var keys: [Key] = []
        for (index, entry) in keySpecification.split(separator: ",").enumerated() {
            let trimmed = entry.trimmingCharacters(in: .whitespacesAndNewlines)
            let parts = trimmed.split(separator: ":", maxSplits: 1)
            let (id, encoded) = parts.count == 2 ? (String(parts[0]), String(parts[1])) : ("k\(index + 1)", trimmed)
            // The id is named in errors only when it looks like one: written the wrong way round
            // (`<base64>:k1`), the "id" is the key itself.
            guard Self.isKeyID(id) else {
                throw Failure(
                    description: "\(source): entry \(index + 1) must be written id:base64 (e.g. k1:…), the id being "
                        + "1–32 letters, digits, '-' or '_'")
            }
            guard let data = Data(base64Encoded: encoded), data.count == 32 else {
                throw Failure(
                    description:
                        "\(source): key '\(id)' must be 32 bytes in base64 (make one with: openssl rand -base64 32)")
            }
            guard !keys.contains(where: { $0.id == id }) else {
                throw Failure(description: "\(source): key id '\(id)' appears twice")
            }
            keys.append(Key(id: id, bytes: data))
        }
        guard !keys.isEmpty else { throw Failure(description: "\(source) is empty") }
        self.keys = keys
    }

    static func isKeyID(_ id: String) -> Bool {
        (1...32).contains(id.utf8.count)
            && id.utf8.allSatisfy { $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }

    /// From the environment: `SWITCHBOARD_MASTER_KEY`, else the file in `SWITCHBOARD_MASTER_KEY_FILE`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> CredentialVault
    {
        if let value = environment["SWITCHBOARD_MASTER_KEY"], !value.isEmpty {
            return try CredentialVault(keySpecification: value)
        }
        if let path = environment["SWITCHBOARD_MASTER_KEY_FILE"], !path.isEmpty {
            guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw Failure(description: "SWITCHBOARD_MASTER_KEY_FILE: cannot read \(path)")
            }
            return try CredentialVault(keySpecification: contents, source: "SWITCHBOARD_MASTER_KEY_FILE")
        }
        throw Failure(
            description:
                "no master key: set SWITCHBOARD_MASTER_KEY (openssl rand -base64 32) or SWITCHBOARD_MASTER_KEY_FILE")
    }

    /// A fresh random key specification (for the demo and tests).
    public static func generateKeySpecification(id: String = "k1") -> String {
        id + ":" + SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// Seals `secret`, bound to `accountSID` (a sealed token cannot be moved to another account row).
    public func seal(_ secret: String, accountSID: String) throws -> (keyID: String, sealed: Data) {
        try seal(secret, boundTo: accountSID)
    }

    public func open(_ sealed: Data, keyID: String, accountSID: String) throws -> String {
        try open(sealed, keyID: keyID, boundTo: accountSID, owner: "account \(accountSID)")
    }

    /// Seals `secret` bound to `context` (the additional authenticated data: a sealed secret
    /// copied to another row does not open there).
    public func seal(_ secret: String, boundTo context: String) throws -> (keyID: String, sealed: Data) {
        let box = try AES.GCM.seal(Data(secret.utf8), using: keys[0].key, authenticating: Data(context.utf8))
        guard let combined = box.combined else { throw Failure(description: "AES-GCM produced no combined box") }
        return (keys[0].id, combined)
    }

    /// Opens a secret sealed bound to `context`; errors name `owner` ("account AC…"), never the secret.
    public func open(_ sealed: Data, keyID: String, boundTo context: String, owner: String) throws -> String {
        guard let key = keys.first(where: { $0.id == keyID }) else {
            throw Failure(
                description:
                    "the secret of \(owner) is sealed with key '\(keyID)', which is not in SWITCHBOARD_MASTER_KEY"
            )
        }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            let plain = try AES.GCM.open(box, using: key.key, authenticating: Data(context.utf8))
            return String(decoding: plain, as: UTF8.self)
        } catch {
            throw Failure(
                description: "the secret of \(owner) does not decrypt with key '\(keyID)' (wrong key or tampered row)"
            )
        }
    }
}

extension UInt8 {
    fileprivate var isASCIIAlphanumeric: Bool {
        (48...57).contains(self) || (65...90).contains(self) || (97...122).contains(self)
    }
}
