import Foundation

/// Credentials for Twilio's REST API: the Account SID plus either its auth token or an API key
/// (`SK…`) and secret. `description` never shows the secret.
public struct TwilioCredentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public var accountSID: String
    /// The Basic-auth user: the Account SID, or an API Key SID.
    public var username: String
    /// The auth token or API key secret.
    public var secret: String

    public init(accountSID: String, authToken: String) {
        self.accountSID = accountSID
        username = accountSID
        secret = authToken
    }

    public init(accountSID: String, apiKeySID: String, apiKeySecret: String) {
        self.accountSID = accountSID
        username = apiKeySID
        secret = apiKeySecret
    }

    public var description: String { "TwilioCredentials(\(accountSID), user \(username), secret ********)" }
    public var debugDescription: String { description }

    var authorizationHeader: String {
        "Basic " + Data("\(username):\(secret)".utf8).base64EncodedString()
    }

    /// Checks the shape of an Account SID (`AC` + 32 hex digits).
    public static func isValidAccountSID(_ sid: String) -> Bool {
        sid.count == 34 && sid.hasPrefix("AC") && sid.dropFirst(2).allSatisfy(\.isHexDigit)
    }
}
