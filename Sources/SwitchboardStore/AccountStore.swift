import Foundation
import Postgres
import SwitchboardCore

/// A Twilio account as stored (the secret stays sealed until `credentials` opens it).
public struct AccountRecord: Sendable {
    public var id: Int64
    public var name: String
    public var accountSID: String
    public var apiKeySID: String?
    public var keyID: String
    public var sealedSecret: Data
    public var flaggedAt: Date?
    public var flagReason: String?
}

/// Twilio accounts and their encrypted secrets.
public struct AccountStore: Sendable {
    public let pool: PostgresPool
    public let vault: CredentialVault

    public init(pool: PostgresPool, vault: CredentialVault) {
        self.pool = pool
        self.vault = vault
    }

    /// Adds an account, or replaces the secret of the one with this name. Checks the shapes first.
    @discardableResult
    public func upsert(name: String, accountSID: String, apiKeySID: String? = nil, secret: String) async throws -> Int64
    {
        try JobSpec.validateName(name, field: "name")
        guard accountSID.count == 34, accountSID.hasPrefix("AC"),
            accountSID.dropFirst(2).allSatisfy({ $0.isHexDigit && !$0.isUppercase })
        else {
            throw InputError(
                field: "account_sid",
                problem: "'\(accountSID)' is not an Account SID (AC followed by 32 lower-case hex digits)")
        }
        if let apiKeySID, !(apiKeySID.count == 34 && apiKeySID.hasPrefix("SK")) {
            throw InputError(
                field: "api_key_sid", problem: "'\(apiKeySID)' is not an API Key SID (SK followed by 32 hex digits)")
        }
        let trimmed = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.count >= 16 else {
            throw InputError(
                field: "auth_token", problem: "is empty or too short to be a Twilio auth token or API key secret")
        }
        let (keyID, sealed) = try vault.seal(trimmed, accountSID: accountSID)
        return try await pool.query(
            """
            INSERT INTO switchboard.accounts (name, account_sid, api_key_sid, secret_sealed, key_id)
            VALUES (\(name), \(accountSID), \(apiKeySID), \(sealed), \(keyID))
            ON CONFLICT (name) DO UPDATE SET account_sid = excluded.account_sid, api_key_sid = excluded.api_key_sid,
                secret_sealed = excluded.secret_sealed, key_id = excluded.key_id, flagged_at = NULL, flag_reason = NULL,
                updated_at = now()
            RETURNING id
            """
        )[0].decode(Int64.self, at: 0)
    }

    public func account(named name: String) async throws -> AccountRecord? {
        try await pool.query("\(unescaped: Self.select) WHERE name = \(name)").first.map(Self.record)
    }

    public func account(id: Int64) async throws -> AccountRecord? {
        try await pool.query("\(unescaped: Self.select) WHERE id = \(id)").first.map(Self.record)
    }

    public func all() async throws -> [AccountRecord] {
        try await pool.query("\(unescaped: Self.select) ORDER BY name").map(Self.record)
    }

    /// The decrypted secret (auth token or API key secret).
    public func secret(of account: AccountRecord) throws -> String {
        try vault.open(account.sealedSecret, keyID: account.keyID, accountSID: account.accountSID)
    }

    /// Marks an account unusable (Twilio said 20003): sends fail fast until it is replaced.
    public func flag(id: Int64, reason: String) async throws {
        try await pool.query(
            "UPDATE switchboard.accounts SET flagged_at = now(), flag_reason = \(reason), updated_at = now() WHERE id = \(id)"
        )
    }

    /// Books the account's next call slot (Twilio meters calls per second per account), at most
    /// `horizon` ahead.
    public func reserveCallSlot(accountID: Int64, horizon: Duration) async throws -> ReservationResult {
        try await RowRateLimit.accountCalls.reserve(pool: pool, id: accountID, horizon: horizon)
    }

    /// Sets the account's calls-per-second limit (Twilio: 1 by default; up to 30 self-serve).
    public func setCallsPerSecond(accountID: Int64, _ rate: Double) async throws {
        guard rate > 0, rate.isFinite else {
            throw InputError(field: "calls_per_second", problem: "\(rate) must be positive")
        }
        try await pool.query("UPDATE switchboard.accounts SET calls_per_second = \(rate) WHERE id = \(accountID)")
    }

    /// Re-seals every secret under the current master key; returns how many changed.
    public func resealAll() async throws -> Int {
        var changed = 0
        for account in try await all() where account.keyID != vault.currentKeyID {
            let secret = try secret(of: account)
            let (keyID, sealed) = try vault.seal(secret, accountSID: account.accountSID)
            try await pool.query(
                "UPDATE switchboard.accounts SET secret_sealed = \(sealed), key_id = \(keyID), updated_at = now() WHERE id = \(account.id)"
            )
            changed += 1
        }
        // Webhook tokens of API-key accounts too.
        let tokens = try await pool.query(
            """
            SELECT id, account_sid, webhook_token_sealed, webhook_token_key_id FROM switchboard.accounts
            WHERE webhook_token_sealed IS NOT NULL AND webhook_token_key_id <> \(vault.currentKeyID)
            """)
        for row in tokens {
            let accountSID = try row.decode(String.self, at: 1)
            let token = try vault.open(
                try row.decode(Data.self, at: 2), keyID: try row.decode(String.self, at: 3), accountSID: accountSID)
            let (keyID, sealed) = try vault.seal(token, accountSID: accountSID)
            try await pool.query(
                """
                UPDATE switchboard.accounts SET webhook_token_sealed = \(sealed), webhook_token_key_id = \(keyID)
                WHERE id = \(try row.decode(Int64.self, at: 0))
                """)
            changed += 1
        }
        return changed
    }

    static let select = """
        SELECT id, name, account_sid, api_key_sid, key_id, secret_sealed, flagged_at, flag_reason FROM switchboard.accounts
        """

    static func record(_ row: PostgresRow) throws -> AccountRecord {
        AccountRecord(
            id: try row.decode(Int64.self, at: 0), name: try row.decode(String.self, at: 1),
            accountSID: try row.decode(String.self, at: 2), apiKeySID: try row.decode(String?.self, at: 3),
            keyID: try row.decode(String.self, at: 4), sealedSecret: try row.decode(Data.self, at: 5),
            flaggedAt: try row.decode(Date?.self, at: 6), flagReason: try row.decode(String?.self, at: 7))
    }
}
