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

    @Option(
        name: .customLong("twilio-timeout"),
        help: "Deadline of one Twilio request (default: $SWITCHBOARD_TWILIO_TIMEOUT, else 30s).")
    var timeout: String?

    @Option(
        name: .customLong("twilio-connections"),
        help:
            "Most concurrent connections to Twilio from this process (default: $SWITCHBOARD_TWILIO_CONNECTIONS, else 32)."
    )
    var connections: Int?

    var flags: [String: String?] {
        ["twilio-base-url": baseURL, "twilio-timeout": timeout, "twilio-connections": connections.map(String.init)]
    }

    struct Resolved {
        var client: TwilioClient.Configuration
        var connections: Int
    }

    /// The Twilio settings, checked.
    static func resolve(_ settings: Settings) throws -> Resolved {
        let base =
            try settings.baseURL("twilio-base-url", default: "https://api.twilio.com", allowQuery: true)
            ?? "https://api.twilio.com"
        let timeout = try settings.duration("twilio-timeout", default: .seconds(30))
        let connections = try settings.int("twilio-connections", default: 32, in: 1...10_000)
        return Resolved(client: .init(baseURL: base, timeout: timeout), connections: connections)
    }

    /// Runs `body` with a Twilio client whose connections are closed afterwards.
    static func withClient<T: Sendable>(_ settings: Settings, _ body: (TwilioClient) async throws -> T) async throws
        -> T
    {
        let resolved = try resolve(settings)
        let http = makeSendingHTTPClient(connections: resolved.connections)
        do {
            let value = try await body(TwilioClient(configuration: resolved.client, httpClient: http))
            try await http.shutdown()
            return value
        } catch {
            try? await http.shutdown()
            throw error
        }
    }
}

/// An HTTP client sized for sending to Twilio; shut it down when done.
func makeSendingHTTPClient(connections: Int) -> HTTPClient {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
    configuration.timeout.connect = .seconds(10)
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}
