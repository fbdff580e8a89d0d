import Foundation
import Hummingbird
import Logging
import NIOCore
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
    let tokens: TokenCache
    let logger: Logger

    func verify(_ request: Request) async throws -> VerifiedWebhook {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            throw HTTPError(.contentTooLarge, message: "request body over \(maxBodyBytes) bytes")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodyBytes)
        } catch {
            throw HTTPError(.contentTooLarge, message: "request body over \(maxBodyBytes) bytes")
        }
        let body = String(buffer: buffer)
        let url = publicURL + request.uri.description
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

    private func forbidden(_ reason: String) -> HTTPError {
        logger.notice("webhook refused", metadata: ["reason": "\(reason)"])
        return HTTPError(.forbidden, message: "invalid Twilio signature")
    }
}

/// Auth tokens by Account SID, kept briefly so a busy webhook does not unseal one per request.
actor TokenCache {
    struct Entry: Sendable {
        var accountID: Int64
        var token: String
    }

    private let accounts: AccountStore
    private var entries: [String: (entry: Entry?, at: ContinuousClock.Instant)] = [:]
    private let ttl = Duration.seconds(30)

    init(accounts: AccountStore) {
        self.accounts = accounts
    }

    func token(accountSID: String) async throws -> Entry? {
        if let hit = entries[accountSID], ContinuousClock.now - hit.at < ttl { return hit.entry }
        let found = try await accounts.webhookToken(accountSID: accountSID).map {
            Entry(accountID: $0.accountID, token: $0.token)
        }
        // Unknown SIDs are remembered too (briefly), so forged requests cost no query each.
        if entries.count > 10_000 { entries.removeAll() }
        entries[accountSID] = (found, .now)
        return found
    }
}
