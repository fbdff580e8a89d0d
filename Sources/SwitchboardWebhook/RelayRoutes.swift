import Hummingbird
import HummingbirdWebSocket
import Logging
import SwitchboardCore
import SwitchboardStore

/// `GET /twilio/relay/{session}` upgraded to a WebSocket: Twilio's ConversationRelay side of a
/// voice-agent session (issue 12, in progress). The upgrade request passes the `/twilio` group's
/// signature check first (Twilio signs the `wss://` URL; the account comes from its `AccountSid`
/// query parameter), and only a session of the signing account is upgraded: anything else is
/// refused before a socket exists.
///
/// So far the socket reads Twilio's messages leniently and binds the session to the call named by
/// `setup`; it writes nothing yet (the conversation over the relay is the next step), so it never
/// sends a frame that is not protocol.
struct RelayRoutes: Sendable {
    let sessions: SessionStore
    let logger: Logger

    func register(twilio: RouterGroup<WebhookRequestContext>) {
        twilio.ws(
            WebhookPaths.inTwilioGroup(WebhookPaths.relayPattern),
            shouldUpgrade: { _, context in
                let webhook = try context.verified()
                guard let text = context.parameters.get("session"), let id = Int64(text),
                    let session = try await sessions.session(id: id), session.accountID == webhook.accountID
                else { throw HTTPError(.notFound) }
                guard session.status != .ended else { throw HTTPError(.conflict, message: "the session has ended") }
                return .upgrade([:])
            },
            onUpgrade: { inbound, _, context in
                guard let text = context.requestContext.parameters.get("session"), let id = Int64(text) else { return }
                try await serve(session: id, inbound: inbound)
            })
    }

    /// Reads the socket until Twilio closes it.
    func serve(session id: Int64, inbound: WebSocketInboundStream) async throws {
        var logger = logger
        logger[metadataKey: "session.id"] = "\(id)"
        for try await message in inbound.messages(maxSize: ConversationRelay.maxMessageBytes) {
            guard case .text(let text) = message else { continue }
            let event: ConversationRelay.Event
            do { event = try ConversationRelay.parse(text) } catch {
                logger.warning("ignored an unreadable relay message", metadata: ["problem": "\(error.description)"])
                continue
            }
            switch event {
            case .setup(let setup):
                try await sessions.attach(sessionID: id, callSID: setup.callSID)
                logger.info("relay session set up", metadata: ["twilio.call_sid": "\(setup.callSID)"])
            case .error(let description):
                // Twilio refused a message of ours (64107); the session goes on.
                logger.error("Twilio refused a relay message", metadata: ["problem": "\(description)"])
            case .other(let type):
                logger.debug("ignored a relay message of an unknown type", metadata: ["type": "\(type)"])
            case .prompt, .dtmf, .interrupt:
                logger.debug("relay conversation not served yet")
            }
        }
    }
}
