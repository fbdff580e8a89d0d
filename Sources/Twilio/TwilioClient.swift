import AsyncHTTPClient
import Foundation
import Metrics
import NIOCore
import NIOHTTP1
import SwitchboardCore

/// Twilio's REST API over AsyncHTTPClient (pooled keep-alive connections, timeouts).
///
/// The base URL is configuration (`https://api.twilio.com` by default) so the same client talks to
/// the simulator in tests and the demo.
public struct TwilioClient: Sendable {
    public struct Configuration: Sendable {
        public var baseURL: String
        /// Where Lookup is served: `https://lookups.twilio.com` with Twilio's API, else the same
        /// place as `baseURL` (the simulator, a proxy) unless given.
        public var lookupBaseURL: String
        /// Whole-request deadline. A send that times out has an *unknown* outcome.
        public var timeout: Duration

        public static let twilioBaseURL = "https://api.twilio.com"

        public init(baseURL: String = twilioBaseURL, lookupBaseURL: String? = nil, timeout: Duration = .seconds(30)) {
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            let lookup =
                lookupBaseURL ?? (self.baseURL == Self.twilioBaseURL ? "https://lookups.twilio.com" : self.baseURL)
            self.lookupBaseURL = lookup.hasSuffix("/") ? String(lookup.dropLast()) : lookup
            self.timeout = timeout
        }
    }

    /// What went wrong with a request.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// Twilio answered with an error: the request was processed and refused (or throttled).
        case api(TwilioAPIError)
        /// No answer: connection refused, reset or timed out. `mayHaveBeenProcessed` is true once
        /// the request may have reached Twilio — the message may exist.
        case transport(message: String, mayHaveBeenProcessed: Bool)
        /// Twilio answered 2xx with a body this client cannot read.
        case malformedResponse(String)

        public var description: String {
            switch self {
            case .api(let error): error.description
            case .transport(let message, let processed):
                "no response from Twilio (\(message))" + (processed ? "; the request may have been processed" : "")
            case .malformedResponse(let message): "unreadable response from Twilio: \(message)"
            }
        }
    }

    /// Metadata of a response, for metrics.
    public struct ResponseInfo: Sendable {
        public var httpStatus: Int
        /// `Twilio-Request-Duration` in seconds, when sent.
        public var requestDuration: Double?
        public var concurrentRequests: Int?
        public var elapsed: Duration
    }

    public let configuration: Configuration
    let http: HTTPClient

    public init(configuration: Configuration = Configuration(), httpClient: HTTPClient = .shared) {
        self.configuration = configuration
        http = httpClient
    }

    public func createMessage(
        _ request: CreateMessageRequest, credentials: TwilioCredentials
    ) async throws(Failure) -> (TwilioMessage, ResponseInfo) {
        try await send(.POST, "create_message", path: "Messages.json", form: request.form, credentials: credentials)
    }

    public func createCall(
        _ request: CreateCallRequest, credentials: TwilioCredentials
    ) async throws(Failure) -> (TwilioCall, ResponseInfo) {
        try await send(.POST, "create_call", path: "Calls.json", form: request.form, credentials: credentials)
    }

    /// Deletes a recording's audio at Twilio (`DELETE Recordings/{sid}.json`). A recording Twilio
    /// no longer has (404) counts as deleted: returns false then, true when this call deleted it.
    public func deleteRecording(sid: String, credentials: TwilioCredentials) async throws(Failure) -> Bool {
        do {
            let _: (NoContent, ResponseInfo) = try await send(
                .DELETE, "delete_recording", path: "Recordings/\(sid).json", form: nil, credentials: credentials)
            return true
        } catch .api(let error) where error.httpStatus == 404 {
            return false
        }
    }

    /// An answer without a body (204).
    struct NoContent: Decodable {}

    /// Messages filtered by To, From and the UTC day sent (`DateSent=YYYY-MM-DD`), newest first:
    /// what reconciliation uses to find out whether an interrupted send went out.
    public func listMessages(
        to: String?, from: String?, dateSent: Date?, pageSize: Int = 50, credentials: TwilioCredentials
    ) async throws(Failure) -> [TwilioMessage] {
        try await listMessagePage(to: to, from: from, dateSent: dateSent, pageSize: pageSize, credentials: credentials)
            .messages
    }

    /// One message as Twilio has it now (`GET Messages/{sid}.json`): its price appears here some
    /// time after it was sent.
    public func fetchMessage(sid: String, credentials: TwilioCredentials) async throws(Failure) -> TwilioMessage {
        try await send(
            .GET, "fetch_message", path: "Messages/\(Self.pathSegment(sid)).json", form: nil, credentials: credentials
        )
        .0
    }

    /// One call as Twilio has it now (`GET Calls/{sid}.json`).
    public func fetchCall(sid: String, credentials: TwilioCredentials) async throws(Failure) -> TwilioCall {
        try await send(
            .GET, "fetch_call", path: "Calls/\(Self.pathSegment(sid)).json", form: nil, credentials: credentials
        ).0
    }

    /// A page of messages filtered by To, From and the UTC day sent, newest first; `next`
    /// continues with the page Twilio named (`next_page_uri`), nil for the first.
    public func listMessagePage(
        to: String? = nil, from: String?, dateSent: Date?, pageSize: Int = 1000, next: String? = nil,
        credentials: TwilioCredentials
    ) async throws(Failure) -> TwilioMessagePage {
        if let next {
            // Only ever a path on the configured base: the credentials go nowhere else.
            guard next.hasPrefix("/2010-04-01/Accounts/\(credentials.accountSID)/Messages.json?") else {
                throw .malformedResponse("next_page_uri is not a page of this account's messages")
            }
            return try await send(
                .GET, "list_messages", url: configuration.baseURL + next, form: nil, credentials: credentials
            )
            .0
        }
        var query = FormParameters()
        query.append("To", to)
        query.append("From", from)
        query.append("DateSent", dateSent.map(Self.day))
        query.append("PageSize", String(pageSize))
        return try await send(
            .GET, "list_messages", path: "Messages.json?" + query.encoded, form: nil, credentials: credentials
        ).0
    }

    /// A SID as one path segment (SIDs are letters and digits; anything else is escaped, never a path).
    static func pathSegment(_ sid: String) -> String {
        sid.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }

    /// Calls filtered by To and From, newest first (reconciliation of an interrupted call).
    public func listCalls(
        to: String?, from: String?, pageSize: Int = 50, credentials: TwilioCredentials
    ) async throws(Failure) -> [TwilioCall] {
        var query = FormParameters()
        query.append("To", to)
        query.append("From", from)
        query.append("PageSize", String(pageSize))
        let (page, _): (TwilioCallPage, ResponseInfo) = try await send(
            .GET, "list_calls", path: "Calls.json?" + query.encoded, form: nil, credentials: credentials)
        return page.calls
    }

    /// Lookup v2 with Line Type Intelligence (a paid lookup): the number's carrier and line type.
    public func lookupLineType(
        _ phoneNumber: String, credentials: TwilioCredentials
    ) async throws(Failure) -> TwilioPhoneNumberLookup {
        let number = phoneNumber.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? phoneNumber
        let (lookup, _): (TwilioPhoneNumberLookup, ResponseInfo) = try await send(
            .GET, "lookup",
            url: "\(configuration.lookupBaseURL)/v2/PhoneNumbers/\(number)?Fields=line_type_intelligence",
            form: nil, credentials: credentials)
        return lookup
    }

    static func day(_ date: Date) -> String {
        var seconds = Int(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday))
    }

    private func send<Resource: Decodable>(
        _ method: HTTPMethod, _ operation: String, path: String, form: FormParameters?, credentials: TwilioCredentials
    ) async throws(Failure) -> (Resource, ResponseInfo) {
        try await send(
            method, operation, url: "\(configuration.baseURL)/2010-04-01/Accounts/\(credentials.accountSID)/\(path)",
            form: form, credentials: credentials)
    }

    private func send<Resource: Decodable>(
        _ method: HTTPMethod, _ operation: String, url: String, form: FormParameters?, credentials: TwilioCredentials
    ) async throws(Failure) -> (Resource, ResponseInfo) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: credentials.authorizationHeader)
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "switchboard/0.1")
        if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form.encoded))
        }
        let start = ContinuousClock.now
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .nanoseconds(configuration.timeout.nanoseconds))
            body = try await response.body.collect(upTo: 4 << 20)
        } catch {
            let neverSent = Self.neverSent(error)
            Metrics.Timer(
                label: MetricNames.twilioRequestDuration, dimensions: [("operation", operation), ("status", "error")]
            )
            .record(duration: ContinuousClock.now - start)
            throw .transport(message: "\(error)", mayHaveBeenProcessed: method == .POST && !neverSent)
        }
        Metrics.Timer(
            label: MetricNames.twilioRequestDuration,
            dimensions: [("operation", operation), ("status", String(response.status.code))]
        ).record(duration: ContinuousClock.now - start)
        let info = ResponseInfo(
            httpStatus: Int(response.status.code),
            requestDuration: response.headers.first(name: "Twilio-Request-Duration").flatMap(Double.init),
            concurrentRequests: response.headers.first(name: "Twilio-Concurrent-Requests").flatMap(Int.init),
            elapsed: ContinuousClock.now - start)
        let data = Data(body.readableBytesView)
        guard (200..<300).contains(response.status.code) else {
            let error = TwilioAPIError.decode(httpStatus: Int(response.status.code), body: data)
            Counter(
                label: MetricNames.twilioErrors,
                dimensions: [("code", error.code.map(String.init) ?? "http_\(error.httpStatus)")]
            ).increment()
            throw .api(error)
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return (try decoder.decode(Resource.self, from: data.isEmpty ? Data("{}".utf8) : data), info)
        } catch {
            throw .malformedResponse("\(error)")
        }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let parts = components
        return parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000
    }
}

extension TwilioClient {
    /// Whether a transport error means the request never left (the connection was refused or
    /// timed out while connecting), judged by the error's type, not its text: anything later may
    /// have been processed by Twilio.
    static func neverSent(_ error: any Error) -> Bool {
        if let client = error as? HTTPClientError { return client == .connectTimeout }
        if let io = error as? IOError { return io.errnoCode == ECONNREFUSED }
        return false
    }
}
