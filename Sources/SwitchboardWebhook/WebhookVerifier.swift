import Foundation
import Hummingbird
import Logging
import NIOCore
import SwitchboardCore
import SwitchboardStore
import Twilio

/// A webhook whose `X-Twilio-Signature` checked out, with its account and form parameters.
struct VerifiedWebhook: Sendable {
    var accountID: Int64
    var accountSID: String
    var form: FormParameters
}

/// Authenticates Twilio's requests before anything else happens: body size (413), form syntax
/// (400), then the signature over the public URL and the parameters with the auth token of the
/// account named by `AccountSid` (403 when missing, unknown or wrong).
struct WebhookVerifier: Sendable {
    let publicURL: String
    let maxBodyBytes: Int
    let bodyTimeout: Duration
    let tokens: TokenCache
    let logger: Logger

    func verify(_ request: Request) async throws -> VerifiedWebhook {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            throw HTTPError(.contentTooLarge, message: "request body over \(maxBodyBytes) bytes")
        }
        let buffer = try await request.collectBody(upTo: maxBodyBytes, within: bodyTimeout)
        let body = String(buffer: buffer)
        // Twilio signs the URL it connects to: for a WebSocket upgrade, the ws(s):// form.
        let isUpgrade = request.headers[.upgrade]?.lowercased() == "websocket"
        let base = isUpgrade ? HTTPURL.webSocketForm(publicURL) : publicURL
        let url = base + request.uri.description
        let isJSON = (request.headers[.contentType] ?? "").lowercased().hasPrefix("application/json")
        let form: FormParameters
        if isJSON {
            form = FormParameters()
        } else {
            guard let decoded = FormParameters.decode(body) else {
                throw HTTPError(.badRequest, message: "malformed form body")
            }
            form = decoded
        }
        try Self.checkFields(form)
        guard let signature = request.headers.first(where: { $0.name.canonicalName == "x-twilio-signature" })?.value,
            !signature.isEmpty
        else {
            throw forbidden("missing X-Twilio-Signature")
        }
        let query = URLComponents(string: url)?.queryItems ?? []
        guard let accountSID = form["AccountSid"] ?? query.first(where: { $0.name == "AccountSid" })?.value else {
            throw forbidden("no AccountSid to verify the signature with")
        }
        let account: TokenCache.Entry
        do {
            guard let found = try await tokens.token(accountSID: accountSID) else {
                throw forbidden("unknown AccountSid")
            }
            account = found
        } catch let missing as WebhookTokenMissing {
            logger.error("webhook refused: \(missing.description)")
            throw forbidden("the account's auth token is not stored")
        }
        let valid =
            isJSON
            ? TwilioSignature.isValidJSON(
                signature: signature, url: url, body: Data(buffer.readableBytesView), authToken: account.token)
            : TwilioSignature.isValid(signature: signature, url: url, parameters: form, authToken: account.token)
        guard valid else { throw forbidden("signature does not match") }
        return VerifiedWebhook(accountID: account.accountID, accountSID: accountSID, form: form)
    }

    /// Refuses what no genuine Twilio request carries, before anything is looked up or written:
    /// a NUL byte (PostgreSQL text cannot hold one, and a C string would silently end there),
    /// SIDs that are not SIDs, addresses longer than any address.
    static func checkFields(_ form: FormParameters) throws {
        for (name, value) in form.pairs {
            if name.utf8.contains(0) || value.utf8.contains(0) {
                throw HTTPError(
                    .badRequest, message: "\(name.utf8.contains(0) ? "a field name" : name) contains a NUL byte")
            }
        }
        for name in ["AccountSid", "MessageSid", "SmsSid", "SmsMessageSid", "CallSid", "MessagingServiceSid"] {
            if let value = form[name], !value.isEmpty, !TwilioSID.isValid(value) {
                throw HTTPError(.badRequest, message: "\(name) is not a Twilio SID (two letters and 32 hex digits)")
            }
        }
        for name in ["From", "To", "CallStatus", "MessageStatus", "SmsStatus"] {
            if let value = form[name], value.utf8.count > 256 {
                throw HTTPError(.badRequest, message: "\(name) is longer than 256 bytes")
            }
        }
    }

    private func forbidden(_ reason: String) -> HTTPError {
        logger.notice("webhook refused", metadata: ["reason": "\(reason)"])
        return HTTPError(.forbidden, message: "invalid Twilio signature")
    }
}

/// Auth tokens by Account SID, kept briefly so a busy webhook does not unseal one per request.
///
/// Forged requests must not cost a query each (issue 11): an `AccountSid` that is not shaped like
/// one is refused without a lookup, and unknown SIDs are answered from the set of the accounts'
/// SIDs, read again at most every `directoryRefresh`. Only known accounts enter the cache, so its
/// size is bounded by the number of accounts, not by what strangers send.
public actor TokenCache {
    public struct Entry: Sendable, Equatable {
        public var accountID: Int64
        public var token: String
        public init(accountID: Int64, token: String) {
            self.accountID = accountID
            self.token = token
        }
    }

    /// Where tokens come from (the accounts table; a counting fake in tests).
    public struct Source: Sendable {
        public var token: @Sendable (_ accountSID: String) async throws -> Entry?
        public var knownSIDs: @Sendable () async throws -> Set<String>
        public init(
            token: @escaping @Sendable (String) async throws -> Entry?,
            knownSIDs: @escaping @Sendable () async throws -> Set<String>
        ) {
            self.token = token
            self.knownSIDs = knownSIDs
        }
    }

    private let source: Source
    private let directoryRefresh: Duration
    private var entries: ExpiringCache<String, Entry, ContinuousClock.Instant>
    private var directory: (sids: Set<String>, at: ContinuousClock.Instant)?
    /// The read in flight, shared by every request that needs it meanwhile (the actor is reentrant
    /// across the query, so without it each concurrent miss would read the directory again).
    private var directoryRead: Task<Set<String>, any Error>?

    public init(source: Source, ttl: Duration = .seconds(30), directoryRefresh: Duration = .seconds(2)) {
        self.source = source
        entries = ExpiringCache(ttl: ttl)
        self.directoryRefresh = directoryRefresh
    }

    init(accounts: AccountStore) {
        self.init(
            source: Source(
                token: { sid in
                    try await accounts.webhookToken(accountSID: sid).map {
                        Entry(accountID: $0.accountID, token: $0.token)
                    }
                },
                knownSIDs: { try await accounts.accountSIDs() }))
    }

    /// The account's token, or nil for a SID that is malformed or belongs to no account.
    public func token(accountSID: String) async throws -> Entry? {
        guard TwilioSID.isValid(accountSID, prefix: "AC") else { return nil }
        let now = ContinuousClock.now
        if let hit = entries.value(for: accountSID, now: now) { return hit }
        if directory == nil || now - directory!.at >= directoryRefresh {
            let read = directoryRead ?? Task { [source] in try await source.knownSIDs() }
            directoryRead = read
            defer { directoryRead = nil }
            directory = (try await read.value, now)
        }
        guard directory?.sids.contains(accountSID) == true else {
            entries.remove(accountSID)
            return nil
        }
        guard let found = try await source.token(accountSID) else { return nil }
        entries.store(found, for: accountSID, now: now)
        return found
    }
}
