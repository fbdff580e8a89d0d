import AsyncHTTPClient
import Foundation
import NIOCore
import Twilio

/// A request the way Twilio makes one to your server: a form POST signed with
/// `X-Twilio-Signature`, answered within 15 seconds.
enum SignedWebhook {
    /// Twilio calls back over many connections at once; a shared client's eight per host would
    /// queue a burst of callbacks behind each other until they miss Twilio's 15-second deadline.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    struct Answer {
        var status: Int
        var body: String
    }

    static func post(_ url: String, parameters: FormParameters, authToken: String, maxBody: Int = 64 * 1024)
        async throws -> Answer
    {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "User-Agent", value: "TwilioProxy/1.1")
        request.headers.add(
            name: "X-Twilio-Signature",
            value: TwilioSignature.compute(url: url, parameters: parameters, authToken: authToken))
        request.body = .bytes(ByteBuffer(string: parameters.encoded))
        let response = try await client.execute(request, timeout: .seconds(15))
        let body = try await response.body.collect(upTo: maxBody)
        return Answer(status: Int(response.status.code), body: String(buffer: body))
    }
}
