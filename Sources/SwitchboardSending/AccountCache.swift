import Foundation
import SwitchboardStore
import Twilio

/// Decrypted credentials per account name, kept briefly so a busy worker does not query and
/// decrypt for every message; a flagged or changed account is seen within `ttl`.
actor AccountCache {
    struct Entry {
        var record: AccountRecord
        var credentials: TwilioCredentials
        var loadedAt: ContinuousClock.Instant
    }

    private let accounts: AccountStore
    private let ttl: Duration
    private var entries: [String: Entry] = [:]

    init(accounts: AccountStore, ttl: Duration = .seconds(10)) {
        self.accounts = accounts
        self.ttl = ttl
    }

    /// The account and its credentials; `nil` when no account has this name.
    func lookup(_ name: String) async throws -> Entry? {
        if let entry = entries[name], ContinuousClock.now - entry.loadedAt < ttl { return entry }
        guard let record = try await accounts.account(named: name) else {
            entries[name] = nil
            return nil
        }
        let secret = try accounts.secret(of: record)
        let credentials =
            record.apiKeySID.map {
                TwilioCredentials(accountSID: record.accountSID, apiKeySID: $0, apiKeySecret: secret)
            }
            ?? TwilioCredentials(accountSID: record.accountSID, authToken: secret)
        let entry = Entry(record: record, credentials: credentials, loadedAt: .now)
        entries[name] = entry
        return entry
    }

    func forget(_ name: String) { entries[name] = nil }
}
