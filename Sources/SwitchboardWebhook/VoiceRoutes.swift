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

    /// One model call within the turn's deadline; a failure gives the caller the fallback line.
    private func ask(
        _ conversation: inout Conversation, _ messages: [ChatMessage], _ settings: LLMSettings, sessionID: Int64
    ) async -> Conversation.Next {
        guard let llm else {
            logger.error(
                "an LLM voice agent is running but OPENAI_API_KEY is not set", metadata: ["session.id": "\(sessionID)"])
            return conversation.failed()
        }
        do {
            let reply = try await llm.complete(
                model: settings.model, messages: messages, temperature: settings.temperature,
                maxTokens: settings.maxTokens, deadline: .now + turnDeadline)
            return conversation.reply(
                reply.text, promptTokens: reply.promptTokens, completionTokens: reply.completionTokens,
                settings: settings)
        } catch {
            logger.warning(
                "LLM turn failed; the caller hears the fallback",
                metadata: ["session.id": "\(sessionID)", "error": "\(error)"])
            return conversation.failed()
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
                let next = await ask(&conversation, messages, settings, sessionID: sessionID)
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
