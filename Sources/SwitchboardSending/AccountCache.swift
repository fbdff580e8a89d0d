import Foundation
import SwitchboardCore
import SwitchboardStore
import Twilio

/// Decrypted credentials per account name, kept briefly so a busy worker does not query and
/// decrypt for every message; a flagged or changed account is seen within `ttl`.
actor AccountCache {
    struct Entry {
        var record: AccountRecord
        var credentials: TwilioCredentials
    }

    private let accounts: AccountStore
    private var entries: ExpiringCache<String, Entry, ContinuousClock.Instant>

    init(accounts: AccountStore, ttl: Duration = .seconds(10)) {
        self.accounts = accounts
        entries = ExpiringCache(ttl: ttl)
    }

    /// The account and its credentials; `nil` when no account has this name.
    func lookup(_ name: String) async throws -> Entry? {
        if let entry = entries.value(for: name, now: .now) { return entry }
        guard let record = try await accounts.account(named: name) else {
            entries.remove(name)
            return nil
        }
        let entry = Entry(record: record, credentials: try accounts.credentials(of: record))
        entries.store(entry, for: name, now: .now)
        return entry
    }

    func forget(_ name: String) { entries.remove(name) }
}

extension AccountStore {
    /// The account's Twilio credentials: its API key and secret, or its SID and auth token.
    public func credentials(of record: AccountRecord) throws -> TwilioCredentials {
        let secret = try secret(of: record)
        return record.apiKeySID.map {
            TwilioCredentials(accountSID: record.accountSID, apiKeySID: $0, apiKeySecret: secret)
        } ?? TwilioCredentials(accountSID: record.accountSID, authToken: secret)
    }
}
