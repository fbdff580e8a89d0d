import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import SwitchboardWorker
import Twilio

/// Where Twilio is: real Twilio by default, the simulator for the demo and tests.
struct TwilioOptions: ParsableArguments {
    @Option(
        name: .customLong("twilio-base-url"),
        help: "Twilio REST base URL (default: $SWITCHBOARD_TWILIO_BASE_URL, else https://api.twilio.com).")
    var baseURL: String?

    @Option(name: .customLong("twilio-timeout"), help: "Deadline of one Twilio request.")
    var timeout = "30s"

    @Option(name: .customLong("twilio-connections"), help: "Most concurrent connections to Twilio from this process.")
    var connections = 32

    func validate() throws {
        let url = resolvedBaseURL
        guard HTTPURL.isValidBase(url, allowQuery: true) else {
            throw ValidationError("--twilio-base-url / SWITCHBOARD_TWILIO_BASE_URL: '\(url)' is not an http(s) URL")
        }
        _ = try parseDuration(timeout, flag: "--twilio-timeout")
        guard connections >= 1 else { throw ValidationError("--twilio-connections must be at least 1") }
    }

    var resolvedBaseURL: String {
        baseURL ?? ProcessInfo.processInfo.environment["SWITCHBOARD_TWILIO_BASE_URL"] ?? "https://api.twilio.com"
    }

    func makeHTTPClient() -> HTTPClient { makeSendingHTTPClient(connections: connections) }

    /// Runs `body` with a Twilio client whose connections are closed afterwards.
    func withClient<T: Sendable>(_ body: (TwilioClient) async throws -> T) async throws -> T {
        let http = makeHTTPClient()
        do {
            let value = try await body(try makeClient(http))
            try await http.shutdown()
            return value
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    func makeClient(_ http: HTTPClient) throws -> TwilioClient {
        TwilioClient(
            configuration: .init(
                baseURL: resolvedBaseURL, timeout: try parseDuration(timeout, flag: "--twilio-timeout")),
            httpClient: http)
    }
}

/// An HTTP client sized for sending to Twilio; shut it down when done.
func makeSendingHTTPClient(connections: Int) -> HTTPClient {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
    configuration.timeout.connect = .seconds(10)
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}
