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
    let logger: Logger

    func register(twilio: RouterGroup<WebhookRequestContext>) {
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

    func turn(_ webhook: VerifiedWebhook, session sessionID: Int64, requestTurn: Int?) async throws -> Response {
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
            return WebhookRoutes.twiml(xml)
        case .notFound:
            logger.notice("voice turn for an unknown session", metadata: ["session.id": "\(sessionID)"])
            throw HTTPError(.notFound, message: "no such session")
        case .rejected(let reason):
            logger.notice("voice turn refused", metadata: ["session.id": "\(sessionID)", "reason": "\(reason)"])
            throw HTTPError(.conflict, message: reason)
        }
    }
}
