import AsyncHTTPClient
import Foundation
import NIOCore

extension EventSignature {
    /// A JSON POST of `body` to `url`, signed with each of `secrets` at `timestamp` (Unix
    /// seconds): how event deliveries and LLM agents' `http` tool calls go out.
    public static func post(
        url: String, id: String, body: [UInt8], secrets: [WebhookSecret], timestamp: Int64, userAgent: String
    ) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: userAgent)
        for header in headers(id: id, timestamp: timestamp, body: body, secrets: secrets) {
            request.headers.add(name: header.name, value: header.value)
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        return request
    }
}
