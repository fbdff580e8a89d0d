import Foundation
import Hummingbird
import Logging
import Postgres
import SwitchboardCore
import SwitchboardStore
import Twilio

/// Twilio's routes: status callbacks for messages and calls, inbound messages; plus health and
/// readiness for load balancers and orchestrators.
struct WebhookRoutes: Sendable {
    let configuration: WebhookConfiguration
    let statuses: StatusStore
    let inbound: InboundStore
    let sessions: SessionStore
    let pool: PostgresPool
    var recordings: RecordingStore { RecordingStore(pool: pool) }
    let relays: RelayDrain
    let logger: Logger

    func register(on router: Router<WebhookRequestContext>, twilio: RouterGroup<WebhookRequestContext>) {
        router.get("health") { _, _ in "ok" }
        router.get("ready") { _, _ in
            // A draining host takes no new calls: the balancer sends them elsewhere.
            guard !relays.isDraining else {
                return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "draining")))
            }
            // Orchestrators give a probe a second or so: answer within that, whatever the database does.
            let pool = self.pool
            let reachable = await succeeds(within: configuration.readinessTimeout) { try await pool.query("SELECT 1") }
            guard reachable else {
                return Response(
                    status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "database unreachable")))
            }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready")))
        }
        twilio.post(WebhookPaths.inTwilioGroup(WebhookPaths.messageStatus)) { _, context in
            try await messageStatus(try context.verified())
        }
        twilio.post(WebhookPaths.inTwilioGroup(WebhookPaths.callStatus)) { _, context in
            try await callStatus(try context.verified())
        }
        twilio.post(WebhookPaths.inTwilioGroup(WebhookPaths.inboundMessage)) { _, context in
            try await inboundMessage(try context.verified())
        }
        twilio.post(WebhookPaths.inTwilioGroup(WebhookPaths.recordingStatus)) { _, context in
            try await recordingStatus(try context.verified())
        }
    }

    // MARK: recordings

    /// Twilio's RecordingStatusCallback: the recording is kept (never its audio), its URL put in
    /// the job's result. Malformed fields are refused (400) naming them.
    func recordingStatus(_ webhook: VerifiedWebhook) async throws -> Response {
        let form = webhook.form
        guard let sid = form["RecordingSid"], TwilioSID.isValid(sid, prefix: "RE") else {
            throw HTTPError(.badRequest, message: "RecordingSid is missing or malformed")
        }
        guard let call = form["CallSid"], TwilioSID.isValid(call, prefix: "CA") else {
            throw HTTPError(.badRequest, message: "CallSid is missing or malformed")
        }
        guard let status = form["RecordingStatus"] else {
            throw HTTPError(.badRequest, message: "RecordingStatus is missing")
        }
        guard RecordingUpdate.statuses.contains(status) else {
            logger.info("ignored an unknown recording status", metadata: ["twilio.status": "\(status)"])
            return Self.noContent
        }
        let url = form["RecordingUrl"].flatMap { $0.isEmpty ? nil : $0 }
        if let url, !HTTPURL.isHTTP(url) || url.count > 2048 {
            throw HTTPError(.badRequest, message: "RecordingUrl is not an http(s) URL")
        }
        let channels = try code(form["RecordingChannels"], field: "RecordingChannels")
        if let channels, channels != 1 && channels != 2 {
            throw HTTPError(.badRequest, message: "RecordingChannels is not 1 or 2")
        }
        let kept = try await recordings.apply(
            RecordingUpdate(
                accountID: webhook.accountID, sid: sid, callSID: call, status: status, url: url,
                duration: try code(form["RecordingDuration"], field: "RecordingDuration"), channels: channels,
                source: form["RecordingSource"].map { String($0.prefix(64)) },
                errorCode: try code(form["ErrorCode"], field: "ErrorCode")))
        if !kept {
            logger.notice(
                "recording status for a call this system did not place", metadata: ["twilio.call_sid": "\(call)"])
        }
        return Self.noContent
    }

    // MARK: status callbacks

    func messageStatus(_ webhook: VerifiedWebhook) async throws -> Response {
        guard let sid = webhook.form["MessageSid"] ?? webhook.form["SmsSid"] else {
            throw HTTPError(.badRequest, message: "MessageSid is missing")
        }
        guard let text = webhook.form["MessageStatus"] ?? webhook.form["SmsStatus"] else {
            throw HTTPError(.badRequest, message: "MessageStatus is missing")
        }
        let errorCode = try code(webhook.form["ErrorCode"], field: "ErrorCode")
        guard let status = MessageStatus(rawValue: text) else {
            // Twilio adds statuses without notice: accept and ignore what we do not know.
            logger.info("ignored an unknown message status", metadata: ["twilio.status": "\(text)"])
            return Self.noContent
        }
        let applied = try await statuses.apply(
            StatusUpdate(accountID: webhook.accountID, sid: sid, status: .message(status), errorCode: errorCode))
        logger.debug(
            "message status",
            metadata: ["twilio.message_sid": "\(sid)", "twilio.status": "\(status)", "applied": "\(applied)"])
        return Self.noContent
    }

    func callStatus(_ webhook: VerifiedWebhook) async throws -> Response {
        guard let sid = webhook.form["CallSid"] else { throw HTTPError(.badRequest, message: "CallSid is missing") }
        guard let text = webhook.form["CallStatus"] else {
            throw HTTPError(.badRequest, message: "CallStatus is missing")
        }
        let duration = try code(webhook.form["CallDuration"], field: "CallDuration")
        guard let status = CallStatus(rawValue: text) else {
            logger.info("ignored an unknown call status", metadata: ["twilio.status": "\(text)"])
            return Self.noContent
        }
        let errorCode = try code(webhook.form["ErrorCode"], field: "ErrorCode")
        _ = try await statuses.apply(
            StatusUpdate(
                accountID: webhook.accountID, sid: sid, status: .call(status), errorCode: errorCode, duration: duration)
        )
        if status.isFinal {
            // A voice agent still talking when the call ended: the caller hung up (or it never
            // connected); the session ends with what it has.
            try await sessions.endCall(
                callSID: sid, accountID: webhook.accountID, outcome: AgentOutcome(callEnded: status))
        }
        return Self.noContent
    }

    // MARK: inbound messages

    func inboundMessage(_ webhook: VerifiedWebhook) async throws -> Response {
        let form = webhook.form
        guard let sid = form["MessageSid"] ?? form["SmsMessageSid"] ?? form["SmsSid"] else {
            throw HTTPError(.badRequest, message: "MessageSid is missing")
        }
        guard let from = form["From"], !from.isEmpty else { throw HTTPError(.badRequest, message: "From is missing") }
        guard let to = form["To"], !to.isEmpty else { throw HTTPError(.badRequest, message: "To is missing") }
        let media = try code(form["NumMedia"], field: "NumMedia") ?? 0
        let mediaURLs = (0..<min(media, 10)).compactMap { form["MediaUrl\($0)"] }
        let outcome = try await inbound.record(
            InboundMessage(
                sid: sid, accountID: webhook.accountID, from: from, to: to, body: form["Body"] ?? "",
                mediaURLs: mediaURLs, messagingServiceSID: form["MessagingServiceSid"]),
            replyWindow: configuration.replyWindow)
        logger.debug(
            "inbound message",
            metadata: [
                "twilio.message_sid": "\(sid)", "intent": "\(outcome.intent?.rawValue ?? "reply")",
                "job.id": "\(outcome.jobID.map(String.init) ?? "-")",
            ])
        let reply: String
        switch outcome.intent {
        case .optOut?: reply = configuration.replies.optOut
        case .optIn?: reply = configuration.replies.optIn
        case .help?: reply = configuration.replies.help
        case nil: reply = ""
        }
        return Self.twiml(TwiML.message(reply))
    }

    // MARK: helpers

    private func code(_ text: String?, field: String) throws -> Int? {
        guard let text, !text.isEmpty else { return nil }
        guard let value = Int(text), value >= 0 else {
            throw HTTPError(.badRequest, message: "\(field) is not a number")
        }
        return value
    }

    static var noContent: Response { Response(status: .noContent) }

    static func twiml(_ xml: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/xml; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: xml)))
    }
}
