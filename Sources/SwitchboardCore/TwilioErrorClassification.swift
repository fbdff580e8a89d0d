/// What to do when Twilio answers a send with an error, or reports a delivery failure.
/// A pure table from `twilio-facts.md` §2.
public enum TwilioErrorAction: String, Sendable, Equatable, Codable {
    /// Transient: retry with backoff (the request was not processed, or may succeed later).
    case retry
    /// Permanent for this message: fail now, never retry.
    case fail
    /// The recipient opted out (21610): suppress the address, fail without retrying.
    case suppress
    /// The credentials are wrong or the account is unusable (20003): fail and flag the account.
    case flagAccount
}

public enum TwilioErrorClassification {
    /// Classifies a Twilio error code (from the REST error body or a status callback's ErrorCode).
    public static func action(forCode code: Int) -> TwilioErrorAction {
        if let action = table[code] { return action }
        // Unknown codes: 5xxxx-style server trouble is transient; anything else is treated as a
        // permanent problem with this message rather than retried blindly.
        return .fail
    }

    /// Classifies an HTTP response without a usable Twilio code: 429 and 5xx are transient.
    public static func action(forHTTPStatus status: Int, code: Int?) -> TwilioErrorAction {
        if let code, table[code] != nil { return action(forCode: code) }
        if status == 429 || status >= 500 { return .retry }
        if status == 401 { return .flagAccount }
        return .fail
    }

    /// A short human explanation for a code, for logs and results.
    public static func summary(forCode code: Int) -> String? { summaries[code] }

    static let table: [Int: TwilioErrorAction] = [
        20003: .flagAccount, 20403: .flagAccount, 20404: .fail, 20429: .retry, 20500: .retry, 20503: .retry,
        21211: .fail, 21212: .fail, 21408: .fail, 21602: .fail, 21603: .fail, 21604: .fail, 21606: .fail,
        21608: .fail, 21610: .suppress, 21611: .retry, 21612: .fail, 21614: .fail, 21617: .fail, 21619: .fail,
        21620: .fail, 21623: .fail, 21635: .fail, 21701: .fail, 21703: .fail, 21705: .fail, 35115: .fail,
        30001: .retry, 30002: .flagAccount, 30003: .retry, 30004: .fail, 30005: .fail, 30006: .fail, 30007: .fail,
        30008: .retry, 30010: .fail, 30022: .retry, 30023: .retry, 30024: .retry, 30032: .fail, 30034: .fail,
        30036: .fail, 63014: .fail, 63015: .fail, 63016: .fail, 63018: .retry, 63024: .fail, 63032: .fail,
        13224: .fail, 13225: .fail, 13227: .fail, 21205: .fail, 21210: .fail, 21214: .fail, 21215: .fail,
        21216: .fail, 21217: .fail, 21219: .fail,
    ]

    static let summaries: [Int: String] = [
        20003: "authentication failed: check the Account SID and auth token",
        20429: "too many concurrent requests to Twilio", 20500: "Twilio internal error",
        20503: "Twilio service unavailable", 21211: "invalid 'To' number", 21212: "invalid 'From' number",
        21408: "sending to this region is not enabled (geo permissions)",
        21606: "'From' cannot send to this destination",
        21610: "recipient has opted out (replied STOP)", 21611: "sender queue is full",
        21612: "'To' is not reachable by SMS", 21614: "'To' is not a mobile number",
        21617: "body longer than 1,600 characters",
        30001: "queue overflow", 30003: "handset unreachable", 30004: "message blocked", 30005: "unknown handset",
        30006: "landline or unreachable carrier", 30007: "message filtered as spam", 30008: "unknown carrier error",
        30022: "10DLC rate limit exceeded", 30034: "unregistered 10DLC number",
        63016: "outside the WhatsApp 24-hour window",
        63018: "WhatsApp rate limit exceeded", 21217: "invalid 'To' number (calls)",
        21214: "'To' cannot be reached (calls)",
        21210: "'From' is not a verified Twilio number (calls)", 21215: "geo permissions do not allow this call",
        21216: "call blocked by Twilio's block list",
    ]
}
