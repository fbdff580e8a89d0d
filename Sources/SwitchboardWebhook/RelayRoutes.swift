import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import SwitchboardCore
import SwitchboardStore
import Synchronization

/// `GET /twilio/relay/{session}` upgraded to a WebSocket: Twilio's ConversationRelay side of a
/// voice-agent session (issue 12, in progress). The upgrade request passes the `/twilio` group's
/// signature check first (Twilio signs the `wss://` URL; the account comes from its `AccountSid`
/// query parameter), and only a session of the signing account is upgraded: anything else is
/// refused before a socket exists.
///
/// Scripted interviews run over the socket: `setup` binds the call and the greeting and first
/// question are spoken; each final `prompt` (or key) is the answer, and the next question or the
/// goodbye is spoken; at the end the socket is closed with `end`. Every turn is stored (version
/// guarded) before it is spoken, so the session in Postgres is always what the caller heard.
/// Only protocol frames are ever written. (LLM conversations over the relay are the next step.)
struct RelayRoutes: Sendable {
    let sessions: SessionStore
    /// The model of LLM agents (nil without `OPENAI_API_KEY`: they hear the fallback).
    var llm: ChatCompletions? = nil
    var turnDeadline: Duration = .seconds(8)
    let logger: Logger

    func register(twilio: RouterGroup<WebhookRequestContext>) {
        // The <Connect action>: the relay session ended. When the webhook ended it (`end`), the
        // call is over; otherwise (the socket broke) the call ends too for now, and its status
        // callback closes the session. (Continuing by <Gather> on any host is the drain step.)
        twilio.post(WebhookPaths.inTwilioGroup(WebhookPaths.relayEndedPattern)) { _, context -> Response in
            let webhook = try context.verified()
            guard let text = context.parameters.get("session"), let id = Int64(text),
                let session = try await sessions.session(id: id), session.accountID == webhook.accountID
            else { throw HTTPError(.notFound) }
            if session.status != .ended {
                logger.notice(
                    "a relay session ended without its goodbye; the call ends",
                    metadata: ["session.id": "\(id)", "handoff": "\(webhook.form["HandoffData"] ?? "")"])
            }
            return Response(
                status: .ok, headers: [.contentType: "text/xml"],
                body: .init(byteBuffer: ByteBuffer(string: TwiML.hangup)))
        }
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
            onUpgrade: { inbound, outbound, context in
                guard let text = context.requestContext.parameters.get("session"), let id = Int64(text),
                    let accountID = context.requestContext.webhook?.accountID
                else { return }
                try await serve(session: id, accountID: accountID, inbound: inbound, outbound: outbound)
            })
    }

    /// Reads the socket until Twilio closes it or the interview ends.
    func serve(
        session id: Int64, accountID: Int64, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter
    ) async throws {
        var logger = logger
        logger[metadataKey: "session.id"] = "\(id)"
        if try await sessions.session(id: id)?.spec.agentType == "llm" {
            try await LLMRelay(
                routes: self, session: id, accountID: accountID, outbound: outbound, logger: logger
            ).serve(inbound)
            return
        }
        var callSID: String?
        try await Self.read(inbound, logger: logger) { event in
            let input: RelayTurn.Input
            switch event {
            case .setup(let setup):
                callSID = setup.callSID
                input = .opened
            case .prompt(let words, _, let last):
                // Interim results (partialPrompts) are not answers.
                guard last else { return .goOn }
                input = .heard(CallerInput(speech: words, confidence: 1))
            case .dtmf(let digit):
                input = .heard(CallerInput(digits: digit))
            case .interrupt, .error, .other:
                // An interview's prompts are short and complete: nothing to cut off.
                return .goOn
            }
            guard let callSID else {
                logger.warning("a relay message before setup; ignored")
                return .goOn
            }
            let ended = try await take(input, session: id, accountID: accountID, callSID: callSID, outbound, logger)
            return ended ? .stop : .goOn
        }
    }

    enum Reading {
        case goOn
        case stop
    }

    /// Reads Twilio's messages until the socket closes or `handle` says stop. What cannot be read
    /// is logged and skipped, as are Twilio's reports of a message of ours it refused (64107:
    /// the session goes on) and types this version does not know; `handle` sees them all the same.
    static func read(
        _ inbound: WebSocketInboundStream, logger: Logger, _ handle: (ConversationRelay.Event) async throws -> Reading
    ) async throws {
        for try await message in inbound.messages(maxSize: ConversationRelay.maxMessageBytes) {
            guard case .text(let text) = message else { continue }
            let event: ConversationRelay.Event
            do { event = try ConversationRelay.parse(text) } catch {
                logger.warning("ignored an unreadable relay message", metadata: ["problem": "\(error.description)"])
                continue
            }
            switch event {
            case .error(let description):
                logger.error("Twilio refused a relay message", metadata: ["problem": "\(description)"])
            case .other(let type):
                logger.debug("ignored a relay message of an unknown type", metadata: ["type": "\(type)"])
            default:
                break
            }
            if try await handle(event) == .stop { return }
        }
    }

    /// One turn: planned, stored, then spoken. Returns whether the session ended (and `end` was sent).
    func take(
        _ input: RelayTurn.Input, session id: Int64, accountID: Int64, callSID: String,
        _ outbound: WebSocketOutboundWriter, _ logger: Logger
    ) async throws -> Bool {
        // What the stored plan ended with (the plan may run more than once: the last run counts).
        let ended = Mutex<AgentOutcome?>(nil)
        let answer = try await sessions.takeTurn(sessionID: id, accountID: accountID, callSID: callSID) { session in
            let now = Date()
            let plan = RelayTurn.plan(
                spec: session.spec, state: session.state, input: input, startedAt: session.answeredAt ?? now, now: now)
            ended.withLock { $0 = nil }
            switch plan {
            case .say(let state, let text, let outcome):
                ended.withLock { $0 = outcome }
                return .produce(state: state, twiml: text, ended: outcome)
            case .repeatQuestion: return .replay(turn: session.turn)
            case .ignore(let reason): return .reject(reason)
            }
        }
        switch answer {
        case .twiml(let text):
            try await Self.say(text, outbound)
            guard let outcome = ended.withLock({ $0 }) else { return false }
            try await Self.end(session: id, outcome: outcome, outbound)
            return true
        case .notFound, .rejected:
            logger.notice("relay turn not taken", metadata: ["answer": "\(answer)"])
            // Ended elsewhere meanwhile (the call's end, the sweeper): close the socket too.
            guard let session = try await sessions.session(id: id), session.status == .ended else { return false }
            try await Self.end(session: id, outcome: session.outcome, outbound)
            return true
        }
    }

    /// Says `text` as one whole answer.
    static func say(_ text: String, _ outbound: WebSocketOutboundWriter) async throws {
        try await outbound.write(.text(ConversationRelay.Command.text(token: text, last: true).json))
    }

    /// Ends the relay session; its handoff data tells the `<Connect action>` which session and how.
    static func end(session id: Int64, outcome: AgentOutcome?, _ outbound: WebSocketOutboundWriter) async throws {
        let handoff = JSONValue.object([
            "sessionId": .int(id), "outcome": outcome.map { .string($0.rawValue) } ?? .null,
        ])
        try await outbound.write(.text(ConversationRelay.Command.end(handoffData: handoff.jsonText).json))
    }
}
