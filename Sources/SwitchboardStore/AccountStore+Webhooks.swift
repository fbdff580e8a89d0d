import Foundation
import Postgres
import SwitchboardCore

extension AccountStore {
    /// The auth token that signs this account's webhooks, with the account's id: the stored secret
    /// when the account authenticates with its auth token, else the token set with
    /// `setWebhookToken`. nil when the SID is unknown; `WebhookTokenMissing` for an API-key
    /// account without one.
    public func webhookToken(accountSID: String) async throws -> (accountID: Int64, token: String)? {
        guard
            let row = try await pool.query(
                """
                SELECT id, api_key_sid, secret_sealed, key_id, webhook_token_sealed, webhook_token_key_id
                FROM switchboard.accounts WHERE account_sid = \(accountSID) ORDER BY id LIMIT 1
                """
            ).first
        else { return nil }
        let id = try row.decode(Int64.self, at: 0)
        if try row.decode(String?.self, at: 1) == nil {
            let token = try vault.open(
                try row.decode(Data.self, at: 2), keyID: try row.decode(String.self, at: 3), accountSID: accountSID)
            return (id, token)
        }
        guard let sealed = try row.decode(Data?.self, at: 4), let keyID = try row.decode(String?.self, at: 5) else {
            throw WebhookTokenMissing(accountSID: accountSID)
        }
        return (id, try vault.open(sealed, keyID: keyID, accountSID: accountSID))
    }

    /// Every account's SID: which webhooks can be for us at all (a forged SID is refused without
    /// a lookup of its own).
    public func accountSIDs() async throws -> Set<String> {
        Set(
            try await pool.query("SELECT DISTINCT account_sid FROM switchboard.accounts").map {
                try $0.decode(String.self, at: 0)
            })
    }

    /// Stores the auth token of an account that sends with an API key, so its webhooks can be
    /// verified. Returns false when there is no such account.
    @discardableResult
    public func setWebhookToken(name: String, token: String) async throws -> Bool {
        let trimmed = token.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.count >= 16 else {
            throw InputError(field: "auth_token", problem: "is empty or too short to be a Twilio auth token")
        }
        guard let account = try await account(named: name) else { return false }
        let (keyID, sealed) = try vault.seal(trimmed, accountSID: account.accountSID)
        try await pool.query(
            """
            UPDATE switchboard.accounts SET webhook_token_sealed = \(sealed), webhook_token_key_id = \(keyID),
                updated_at = now()
            WHERE id = \(account.id)
            """)
        return true
    }
}

/// An API-key account's webhooks cannot be verified until its auth token is stored.
public struct WebhookTokenMissing: Error, CustomStringConvertible {
    public var accountSID: String
    public var description: String {
        "account \(accountSID) sends with an API key; store its auth token with "
            + "`switchboard accounts set-webhook-token` so its webhooks can be verified"
    }
}
