import Foundation
import Hummingbird
import Logging
import SwitchboardCore
import SwitchboardStore
import Twilio

/// Voice-agent turns: the call's first request (answered) and each `<Gather>` result. A turn is
/// planned from the stored session and stored only if the session did not change meanwhile
/// (`SessionStore.takeTurn`), so alternate requests of one call may go to different hosts, a
/// repeated request gets the TwiML it got before, and nothing is held while a model answers.
struct VoiceRoutes: Sendable {
    let base: String
    let sessions: SessionStore
    /// nil without an API key: LLM turns then answer with the fallback.
    let llm: ChatCompletions?
    let agentTools: AgentTools
    let turnDeadline: Duration
    var agents: AgentStore { AgentStore(pool: sessions.pool) }
    let logger: Logger

    func register(twilio: RouterGroup<WebhookRequestContext>) {
        twilio.post(WebhookPaths.inTwilioGroup(WebhookPaths.inboundCall)) { _, context in
            try await inboundCall(try context.verified())
        }
        twilio.post(WebhookPaths.inTwilioGroup(WebhookPaths.sessionPattern)) { _, context in
            try await turn(try context.verified(), session: try context.id("session"), requestTurn: nil)
        }
        twilio.post(WebhookPaths.inTwilioGroup(WebhookPaths.sessionTurnPattern)) { _, context in
            try await turn(
                try context.verified(), session: try context.id("session"), requestTurn: Int(try context.id("turn")))
        }
    }

    /// The model's answer within the turn's time, running the tools it calls on the way (up to
    /// `Conversation.maxToolRounds` rounds); a failure gives the caller the fallback line.
    private func ask(
        _ conversation: inout Conversation, _ messages: [ChatMessage], _ settings: LLMSettings, session: VoiceSession,
        callSID: String
    ) async -> Conversation.Next {
        guard let llm else {
            logger.error(
                "an LLM voice agent is running but OPENAI_API_KEY is not set", metadata: ["session.id": "\(session.id)"]
            )
            return conversation.failed()
        }
        let tools = settings.tools ?? []
        // Twilio waits 15 s for a turn: tool rounds share 13 s, each model call its own deadline.
        let turnEnd = ContinuousClock.now + (tools.isEmpty ? turnDeadline : max(turnDeadline, Self.toolTurnBudget))
        var messages = messages
        do {
            while true {
                let reply = try await llm.complete(
                    model: settings.model, messages: messages, temperature: settings.temperature,
                    maxTokens: settings.maxTokens, tools: tools, deadline: min(.now + turnDeadline, turnEnd))
                let next = conversation.reply(
                    reply.text, toolCalls: reply.toolCalls, promptTokens: reply.promptTokens,
                    completionTokens: reply.completionTokens, settings: settings)
                guard case .useTools(let calls) = next else { return Self.withWordsBeforeTools(next, conversation) }
                let results = await agentTools.run(
                    calls, tools: tools, session: session, callSID: callSID, deadline: turnEnd - .seconds(1))
                let after = conversation.toolResults(results, settings: settings)
                guard case .complete(let more) = after else { return Self.withWordsBeforeTools(after, conversation) }
                messages = more
            }
        } catch {
            logger.warning(
                "LLM turn failed; the caller hears the fallback",
                metadata: ["session.id": "\(session.id)", "error": "\(error)"])
            return conversation.failed()
        }
    }

    static let toolTurnBudget: Duration = .seconds(13)

    /// With `<Gather>` a turn is spoken whole: what the model said before calling its tools comes
    /// first ("Let me check… You're booked for Tuesday.").
    static func withWordsBeforeTools(_ next: Conversation.Next, _ conversation: Conversation) -> Conversation.Next {
        let before = conversation.saidBeforeTools
        func joined(_ text: String) -> String {
            before.isEmpty || before.hasSuffix(text) ? (before.isEmpty ? text : before) : before + " " + text
        }
        switch next {
        case .say(let text, let listen): return .say(joined(text), listen: listen)
        case .transfer(let to, let text): return .transfer(to: to, say: joined(text))
        case .complete, .useTools: return next
        }
    }

    static let nobodyHere = "Sorry, no one can take your call at this number. Goodbye."
    static let notNow = "Sorry, we cannot take your call right now. Please try again later. Goodbye."

    /// Someone called one of our numbers: the agent bound to it answers (a session for the
    /// caller, on the agent's transport). A number bound to nothing, or a caller the agent
    /// cannot talk to, hears a polite goodbye — never an error, which Twilio would play as
    /// "an application error has occurred".
    func inboundCall(_ webhook: VerifiedWebhook) async throws -> Response {
        guard let callSID = webhook.form["CallSid"], TwilioSID.isValid(callSID, prefix: "CA") else {
            throw HTTPError(.badRequest, message: "CallSid is missing or malformed")
        }
        let caller = webhook.form["From"] ?? ""
        let called = webhook.form["To"] ?? ""
        let goodbye = { (text: String) in
            WebhookRoutes.twiml(TwiML.goodbye(text, voice: "Polly.Joanna", language: "en-US"))
        }
        do {
            guard let agent = try await agents.agent(accountID: webhook.accountID, called: called) else {
                logger.notice("a call to a number bound to no agent", metadata: ["twilio.call_sid": "\(callSID)"])
                return goodbye(Self.nobodyHere)
            }
            let spec: VoiceAgentSpec
            do {
                spec = try AgentDefinition.spec(
                    agent.definition, account: agent.account, caller: caller, called: called)
            } catch {
                // An anonymous or unreadable caller number, or a definition that no longer renders.
                logger.notice(
                    "an inbound call the agent cannot take",
                    metadata: ["agent": "\(agent.name)", "twilio.call_sid": "\(callSID)", "reason": "\(error)"])
                return goodbye(Self.notNow)
            }
            let sessionID = try await agents.openInbound(
                accountID: webhook.accountID, callSID: callSID, caller: caller, called: called, agent: agent,
                spec: spec)
            // A caller's call is not placed with `Record`: recording starts with the answer.
            let recording =
                spec.record == true
                ? TwiML.startRecording(callback: base + WebhookPaths.recordingStatus, channels: spec.recordingChannels)
                : nil
            switch spec.transport(publicURL: base) {
            case .gather:
                return try await turn(webhook, session: sessionID, requestTurn: nil, first: recording)
            case .relay:
                let connect = spec.relayTwiML(
                    base: base, sessionID: sessionID, accountSID: webhook.form["AccountSid"] ?? "")
                return WebhookRoutes.twiml(recording.map { TwiML.prepending($0, to: connect) } ?? connect)
            }
        } catch {
            logger.error(
                "an inbound call could not be answered",
                metadata: ["twilio.call_sid": "\(callSID)", "error": "\(error)"])
            return goodbye(Self.notNow)
        }
    }

    /// A turn's TwiML; `first` (verbs) runs before it.
    func turn(_ webhook: VerifiedWebhook, session sessionID: Int64, requestTurn: Int?, first: String? = nil)
        async throws -> Response
    {
        guard let callSID = webhook.form["CallSid"], !callSID.isEmpty else {
            throw HTTPError(.badRequest, message: "CallSid is missing")
        }
        let input = CallerInput(
            speech: webhook.form["SpeechResult"], digits: webhook.form["Digits"].flatMap { $0.isEmpty ? nil : $0 },
            confidence: webhook.form["Confidence"].flatMap(Double.init))
        let base = self.base
        let now = Date()
        let action: @Sendable (Int) -> String = { base + WebhookPaths.sessionTurn(sessionID, $0) }
        let answer = try await sessions.takeTurn(sessionID: sessionID, accountID: webhook.accountID, callSID: callSID) {
            session in
            let startedAt = session.answeredAt ?? now
            guard session.spec.agentType == "llm" else {
                return InterviewTurn.plan(
                    spec: session.spec, state: session.state, produced: session.turn, requestTurn: requestTurn,
                    input: input, startedAt: startedAt, now: now, action: action)
            }
            switch ConversationTurn.begin(
                spec: session.spec, state: session.state, produced: session.turn, requestTurn: requestTurn,
                input: input, startedAt: startedAt, now: now, action: action)
            {
            case .plan(let plan):
                return plan
            case .needsModel(var conversation, let messages, let settings):
                let next = await ask(&conversation, messages, settings, session: session, callSID: callSID)
                return ConversationTurn.finish(
                    conversation, next, turn: (requestTurn ?? 0) + 1, spec: session.spec, action: action)
            }
        }
        switch answer {
        case .twiml(let xml):
            return WebhookRoutes.twiml(first.map { TwiML.prepending($0, to: xml) } ?? xml)
        case .notFound:
            logger.notice("voice turn for an unknown session", metadata: ["session.id": "\(sessionID)"])
            throw HTTPError(.notFound, message: "no such session")
        case .rejected(let reason):
            logger.notice("voice turn refused", metadata: ["session.id": "\(sessionID)", "reason": "\(reason)"])
            throw HTTPError(.conflict, message: reason)
        }
    }
}
