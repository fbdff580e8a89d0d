import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import SwitchboardCore
import SwitchboardStore
import Synchronization

/// `GET /twilio/relay/{session}` upgraded to a WebSocket: Twilio's ConversationRelay side of a
/// voice-agent session. The upgrade request passes the `/twilio` group's
/// signature check first (Twilio signs the `wss://` URL; the account comes from its `AccountSid`
/// query parameter), and only a session of the signing account is upgraded: anything else is
/// refused before a socket exists.
///
/// Scripted interviews run over the socket: `setup` binds the call and the greeting and first
/// question are spoken; each final `prompt` (or key) is the answer, and the next question or the
/// goodbye is spoken; at the end the socket is closed with `end`. Every turn is stored (version
/// guarded) before it is spoken, so the session in Postgres is always what the caller heard.
/// LLM conversations run in `LLMRelay`. Only protocol frames are ever written. A host that shuts
/// down hands its sockets off (`RelayDrain`); the `<Connect action>` continues the call.
struct RelayRoutes: Sendable {
    /// The public URL, for the `<Gather>` actions of a continued call.
    let base: String
    let sessions: SessionStore
    let drain: RelayDrain
    /// The model of LLM agents (nil without `OPENAI_API_KEY`: they hear the fallback).
    var llm: ChatCompletions? = nil
    var turnDeadline: Duration = .seconds(8)
    /// Runs LLM agents' tool calls.
    let agentTools: AgentTools
    let logger: Logger

    func register(twilio: RouterGroup<WebhookRequestContext>) {
        twilio.post(WebhookPaths.inTwilioGroup(WebhookPaths.relayEndedPattern)) { _, context -> Response in
            try await relayEnded(try context.verified(), session: try context.id("session"))
        }
        twilio.ws(
            WebhookPaths.inTwilioGroup(WebhookPaths.relayPattern),
            shouldUpgrade: { _, context in
                let webhook = try context.verified()
                let id = try context.id("session")
                guard let session = try await sessions.session(id: id), session.accountID == webhook.accountID else {
                    throw HTTPError(.notFound)
                }
                guard session.status != .ended else { throw HTTPError(.conflict, message: "the session has ended") }
                // Twilio then requests the <Connect action>, and another host continues the call.
                guard !drain.isDraining else {
                    throw HTTPError(.serviceUnavailable, message: "this host is shutting down")
                }
                return .upgrade([:])
            },
            onUpgrade: { inbound, outbound, context in
                guard let id = try? context.requestContext.id("session"),
                    let accountID = context.requestContext.webhook?.accountID
                else { return }
                // Draining began since the upgrade was accepted: closing now hands the call off.
                guard let ticket = drain.enter() else { return }
                defer { drain.leave(ticket) }
                try await serve(
                    session: id, accountID: accountID, inbound: inbound, handOff: ticket.handOff, outbound: outbound)
            })
    }

    /// The `<Connect action>`: the relay session ended. When the webhook ended it with the call's
    /// goodbye, the call is over. Otherwise — this or another host drained, or the socket broke —
    /// the call goes on by `<Gather>` from the stored session (`RelayTurn.continueByGather`); a
    /// repeated request gets the same TwiML.
    func relayEnded(_ webhook: VerifiedWebhook, session id: Int64) async throws -> Response {
        guard let session = try await sessions.session(id: id), session.accountID == webhook.accountID else {
            throw HTTPError(.notFound)
        }
        guard session.status != .ended else {
            // The agent transferred the caller (its `transfer_call` tool): connect them.
            if session.outcome == .transferred,
                let to = session.spec.llm?.tools?.first(where: { $0.type == .transferCall })?.to
            {
                return WebhookRoutes.twiml(TwiML.dial(to))
            }
            return WebhookRoutes.twiml(TwiML.hangup)
        }
        guard let callSID = webhook.form["CallSid"], !callSID.isEmpty else {
            throw HTTPError(.badRequest, message: "CallSid is missing")
        }
        logger.notice(
            "a relay session ended with its call going on; it continues by <Gather>",
            metadata: ["session.id": "\(id)", "handoff": "\(webhook.form["HandoffData"] ?? "none")"])
        let action: @Sendable (Int) -> String = { [base] in base + WebhookPaths.sessionTurn(id, $0) }
        let answer = try await sessions.takeTurn(
            sessionID: id, accountID: webhook.accountID, callSID: callSID, continuesRelay: true
        ) { stored in
            if let turn = stored.relayEndedTurn { return .replay(turn: turn) }
            guard stored.status != .ended else { return .reject("the session has ended") }
            let now = Date()
            return RelayTurn.continueByGather(
                spec: stored.spec, state: stored.state, produced: stored.turn, startedAt: stored.answeredAt ?? now,
                now: now, action: action)
        }
        switch answer {
        case .twiml(let xml): return WebhookRoutes.twiml(xml)
        case .notFound: throw HTTPError(.notFound)
        case .rejected(let reason):
            logger.notice(
                "relay continuation refused; the call ends", metadata: ["session.id": "\(id)", "reason": "\(reason)"])
            return WebhookRoutes.twiml(TwiML.hangup)
        }
    }

    /// Reads the socket until Twilio closes it, the interview ends or the host hands the call off.
    func serve(
        session id: Int64, accountID: Int64, inbound: WebSocketInboundStream, handOff: AsyncStream<Void>,
        outbound: WebSocketOutboundWriter
    ) async throws {
        var logger = logger
        logger[metadataKey: "session.id"] = "\(id)"
        if try await sessions.session(id: id)?.spec.agentType == "llm" {
            try await LLMRelay(
                routes: self, session: id, accountID: accountID, outbound: outbound, logger: logger
            ).serve(inbound, handOff: handOff)
            return
        }
        var callSID: String?
        try await Self.read(inbound, handOff: handOff, logger: logger) { incoming in
            let input: RelayTurn.Input
            switch incoming {
            case .handOff:
                // Turns are taken one at a time, so nothing is being said now.
                try await Self.end(session: id, outcome: nil, reason: .handOff, outbound)
                return .stop
            case .event(.setup(let setup)):
                callSID = setup.callSID
                input = .opened
            case .event(.prompt(let words, _, let last)):
                // Interim results (partialPrompts) are not answers.
                guard last else { return .goOn }
                input = .heard(CallerInput(speech: words, confidence: 1))
            case .event(.dtmf(let digit)):
                input = .heard(CallerInput(digits: digit))
            case .event(.interrupt), .event(.error), .event(.other):
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

    /// What the socket's loop handles: Twilio's messages, and this host's request to hand off.
    enum Incoming: Sendable {
        case event(ConversationRelay.Event)
        case handOff
    }

    /// Reads Twilio's messages, and the hand-off request, until the socket closes or `handle`
    /// says stop, one at a time. What cannot be read is logged and skipped, as are Twilio's
    /// reports of a message of ours it refused (64107: the session goes on) and types this
    /// version does not know; `handle` sees them all the same.
    static func read(
        _ inbound: WebSocketInboundStream, handOff: AsyncStream<Void>, logger: Logger,
        _ handle: (Incoming) async throws -> Reading
    ) async throws {
        let (incoming, sink) = AsyncThrowingStream<Incoming, any Error>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await message in inbound.messages(maxSize: ConversationRelay.maxMessageBytes) {
                        guard case .text(let text) = message else { continue }
                        do { sink.yield(.event(try ConversationRelay.parse(text))) } catch let error
                            as ConversationRelay.ParseError
                        {
                            logger.warning(
                                "ignored an unreadable relay message", metadata: ["problem": "\(error.description)"])
                        }
                    }
                    sink.finish()
                } catch {
                    sink.finish(throwing: error)
                }
            }
            group.addTask {
                for await _ in handOff {
                    sink.yield(.handOff)
                    return
                }
            }
            defer { group.cancelAll() }
            for try await next in incoming {
                switch next {
                case .event(.error(let description)):
                    logger.error("Twilio refused a relay message", metadata: ["problem": "\(description)"])
                case .event(.other(let type)):
                    logger.debug("ignored a relay message of an unknown type", metadata: ["type": "\(type)"])
                default:
                    break
                }
                if try await handle(next) == .stop { return }
            }
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

    /// Why a relay session ends: the conversation is over, or this host hands the call off.
    enum EndReason: String {
        case ended
        case handOff = "hand_off"
    }

    /// Ends the relay session; its handoff data tells the `<Connect action>` (and anyone reading
    /// Twilio's logs) which session, why and how. The action reads the session from Postgres.
    static func end(
        session id: Int64, outcome: AgentOutcome?, reason: EndReason = .ended, _ outbound: WebSocketOutboundWriter
    ) async throws {
        let handoff = JSONValue.object([
            "sessionId": .int(id), "outcome": outcome.map { .string($0.rawValue) } ?? .null,
            "reason": .string(reason.rawValue),
        ])
        try await outbound.write(.text(ConversationRelay.Command.end(handoffData: handoff.jsonText).json))
    }
}
