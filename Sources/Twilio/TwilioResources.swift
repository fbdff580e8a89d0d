import Foundation

/// A message as Twilio's REST API returns it (`api.v2010.account.message`).
public struct TwilioMessage: Sendable, Codable, Equatable {
    public var sid: String
    public var accountSid: String?
    public var to: String
    public var from: String?
    public var messagingServiceSid: String?
    public var body: String?
    public var status: String
    public var direction: String?
    /// A string in Twilio's JSON ("1").
    public var numSegments: String?
    public var numMedia: String?
    public var price: String?
    public var priceUnit: String?
    public var errorCode: Int?
    public var errorMessage: String?
    /// RFC 2822, e.g. "Thu, 24 Aug 2023 05:01:45 +0000".
    public var dateCreated: String?
    public var dateUpdated: String?
    public var dateSent: String?
    public var uri: String?

    public init(
        sid: String, accountSid: String?, to: String, from: String?, messagingServiceSid: String? = nil, body: String?,
        status: String, direction: String? = "outbound-api", numSegments: String?, numMedia: String? = "0",
        price: String? = nil, priceUnit: String? = "USD", errorCode: Int? = nil, errorMessage: String? = nil,
        dateCreated: String?, dateUpdated: String?, dateSent: String?, uri: String?
    ) {
        self.sid = sid
        self.accountSid = accountSid
        self.to = to
        self.from = from
        self.messagingServiceSid = messagingServiceSid
        self.body = body
        self.status = status
        self.direction = direction
        self.numSegments = numSegments
        self.numMedia = numMedia
        self.price = price
        self.priceUnit = priceUnit
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.dateCreated = dateCreated
        self.dateUpdated = dateUpdated
        self.dateSent = dateSent
        self.uri = uri
    }
}

/// A call as Twilio's REST API returns it (`api.v2010.account.call`).
public struct TwilioCall: Sendable, Codable, Equatable {
    public var sid: String
    public var accountSid: String?
    public var to: String
    public var from: String
    public var status: String
    public var direction: String?
    public var price: String?
    public var priceUnit: String?
    public var duration: String?
    public var startTime: String?
    public var endTime: String?
    public var dateCreated: String?
    public var uri: String?

    public init(
        sid: String, accountSid: String?, to: String, from: String, status: String, direction: String? = "outbound-api",
        price: String? = nil, priceUnit: String? = "USD", duration: String? = nil, startTime: String? = nil,
        endTime: String? = nil, dateCreated: String?, uri: String?
    ) {
        self.sid = sid
        self.accountSid = accountSid
        self.to = to
        self.from = from
        self.status = status
        self.direction = direction
        self.price = price
        self.priceUnit = priceUnit
        self.duration = duration
        self.startTime = startTime
        self.endTime = endTime
        self.dateCreated = dateCreated
        self.uri = uri
    }
}

/// A page of `GET …/Messages.json`.
public struct TwilioMessagePage: Sendable, Codable {
    public var messages: [TwilioMessage]
    public var nextPageUri: String?

    public init(messages: [TwilioMessage], nextPageUri: String?) {
        self.messages = messages
        self.nextPageUri = nextPageUri
    }
}

/// A page of `GET …/Calls.json`.
public struct TwilioCallPage: Sendable, Codable {
    public var calls: [TwilioCall]
    public var nextPageUri: String?

    public init(calls: [TwilioCall], nextPageUri: String?) {
        self.calls = calls
        self.nextPageUri = nextPageUri
    }
}

/// Twilio's error body in either shape: classic `{code, message, more_info, status}` or
/// RFC 9457 problem details `{type, title, status, code, detail}`.
public struct TwilioAPIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var httpStatus: Int
    public var code: Int?
    public var message: String
    public var moreInfo: String?

    public init(httpStatus: Int, code: Int?, message: String, moreInfo: String? = nil) {
        self.httpStatus = httpStatus
        self.code = code
        self.message = message
        self.moreInfo = moreInfo
    }

    public var description: String {
        "Twilio error \(code.map(String.init) ?? "-") (HTTP \(httpStatus)): \(message)"
    }

    /// Decodes an error body; falls back to "[HTTP <status>] Failed to execute request" like
    /// Twilio's own libraries when the body is not a Twilio error.
    public static func decode(httpStatus: Int, body: Data) -> TwilioAPIError {
        struct Body: Decodable {
            var code: Int?
            var message: String?
            var moreInfo: String?
            var title: String?
            var detail: String?
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let parsed = try? decoder.decode(Body.self, from: body),
            parsed.code != nil || parsed.message != nil || parsed.title != nil
        else {
            return TwilioAPIError(
                httpStatus: httpStatus, code: nil, message: "[HTTP \(httpStatus)] Failed to execute request")
        }
        let message = parsed.message ?? [parsed.title, parsed.detail].compactMap { $0 }.joined(separator: ": ")
        return TwilioAPIError(httpStatus: httpStatus, code: parsed.code, message: message, moreInfo: parsed.moreInfo)
    }
}

/// Twilio's RFC 2822 dates ("Thu, 24 Aug 2023 05:01:45 +0000").
public enum TwilioDate {
    public static func parse(_ text: String) -> Date? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, let day = Int(parts[1]), let year = Int(parts[3]) else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let month = months.firstIndex(of: String(parts[2])) else { return nil }
        let time = parts[4].split(separator: ":").compactMap { Int($0) }
        guard time.count == 3 else { return nil }
        let zone = parts[5]
        guard zone.count == 5, let hours = Int(zone.dropFirst().prefix(2)), let minutes = Int(zone.suffix(2)) else {
            return nil
        }
        let offset = (hours * 3600 + minutes * 60) * (zone.hasPrefix("-") ? -1 : 1)
        var components = tm()
        components.tm_year = Int32(year - 1900)
        components.tm_mon = Int32(month)
        components.tm_mday = Int32(day)
        components.tm_hour = Int32(time[0])
        components.tm_min = Int32(time[1])
        components.tm_sec = Int32(time[2])
        return Date(timeIntervalSince1970: Double(timegm(&components) - offset))
    }
}

/// Lookup v2's answer for one number with `Fields=line_type_intelligence`.
public struct TwilioPhoneNumberLookup: Decodable, Sendable, Equatable {
    public var phoneNumber: String?
    public var valid: Bool?
    public var lineTypeIntelligence: LineTypeIntelligence?

    public struct LineTypeIntelligence: Decodable, Sendable, Equatable {
        public var carrierName: String?
        public var mobileCountryCode: String?
        public var mobileNetworkCode: String?
        /// mobile, landline, fixedVoip, nonFixedVoip, tollFree, …
        public var type: String?
        public var errorCode: Int?

        public init(
            carrierName: String?, mobileCountryCode: String?, mobileNetworkCode: String?, type: String?,
            errorCode: Int? = nil
        ) {
            self.carrierName = carrierName
            self.mobileCountryCode = mobileCountryCode
            self.mobileNetworkCode = mobileNetworkCode
            self.type = type
            self.errorCode = errorCode
        }
    }
}
