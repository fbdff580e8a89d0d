import Foundation
import HummingbirdWebSocket
import Logging
import SwitchboardCore
import SwitchboardStore
import Synchronization

/// An LLM conversation over a ConversationRelay socket. The caller's final words are stored,
/// then the model's answer is streamed to Twilio token by token as it is generated (no
/// transaction or connection held meanwhile) and stored when it ends. When the caller speaks
/// over it (`interrupt`), the stream is cancelled at once (the model request ends with it) and
/// only what the caller heard stays in the history.
struct LLMRelay: Sendable {
    let routes: RelayRoutes
    let session: Int64
    let accountID: Int64
    let outbound: WebSocketOutboundWriter
    let logger: Logger

    /// The conversation as this socket last stored it. The model is asked from it the moment the
    /// caller's words arrive, while they are being stored: no database round trip (nor a durable
    /// commit) stands between the caller and the first token.
    let latest = Latest()

    final class Latest: Sendable {
        struct Known: Sendable {
            var conversation: Conversation
            var settings: LLMSettings
            var answeredAt: Date
        }
        private let known = Mutex<Known?>(nil)
        var value: Known? { known.withLock { $0 } }
        func remember(_ value: Known?) { known.withLock { $0 = value } }
    }

    /// Opens once the caller's words are stored: an answer asked for early is stored after them.
    final class Gate: Sendable {
        private let stream: AsyncStream<Void>
        private let continuation: AsyncStream<Void>.Continuation
        init() { (stream, continuation) = AsyncStream<Void>.makeStream() }
        func open() { continuation.finish() }
        func wait() async { for await _ in stream {} }
    }

    var sessions: SessionStore { routes.sessions }

    /// `SessionStore.takeTurn`, remembering the conversation it stored (or found, for a replay).
    private func takeTurn(
        callSID: String, timings: TurnTimings? = nil, _ plan: @Sendable (VoiceSession) -> TurnPlan
    ) async throws -> TurnAnswer {
        let stored = Mutex<Latest.Known?>(nil)
        let answer = try await sessions.takeTurn(
            sessionID: session, accountID: accountID, callSID: callSID, timings: timings
        ) { found in
            let decided = plan(found)
            var state = found.state
            if case .produce(let produced, _, _) = decided { state = produced }
            stored.withLock { known in
                guard case .conversation(let conversation)? = state, let settings = found.spec.llm else {
                    known = nil
                    return
                }
                known = .init(conversation: conversation, settings: settings, answeredAt: found.answeredAt ?? Date())
            }
            return decided
        }
        if case .twiml = answer, let known = stored.withLock({ $0 }) { latest.remember(known) }
        return answer
    }

    /// What a finished stream leaves for the socket's loop.
    enum StreamEnd: Sendable {
        case spoken
        case cancelled
        case ended
    }

    func serve(_ inbound: WebSocketInboundStream, handOff: AsyncStream<Void>) async throws {
        var callSID: String?
        var streaming: Task<StreamEnd, Never>?
        defer { streaming?.cancel() }
        // When the words being answered were received, for the turn's timings.
        var heardAt = ContinuousClock.now
        try await RelayRoutes.read(inbound, handOff: handOff, logger: logger) { incoming in
            var input: CallerInput?
            switch incoming {
            case .handOff:
                // The answer being spoken is finished first (it is stored when it ends), so the
                // call goes on from a whole turn.
                if let task = streaming {
                    streaming = nil
                    if case .ended = await task.value { return .stop }
                }
                try await RelayRoutes.end(session: session, outcome: nil, reason: .handOff, outbound)
                return .stop
            case .event(.setup(let setup)):
                callSID = setup.callSID
                return try await open(callSID: setup.callSID) ? .stop : .goOn
            case .event(.prompt(let words, _, let last)):
                guard last else { return .goOn }
                heardAt = .now
                input = CallerInput(speech: words, confidence: 1)
            case .event(.dtmf(let digit)):
                heardAt = .now
                input = CallerInput(digits: digit)
            case .event(.interrupt(let heard, _)):
                // Stop talking at once; keep in the history only what was heard.
                var cancelled: Double?
                if let task = streaming {
                    let began = ContinuousClock.now
                    task.cancel()
                    _ = await task.value
                    cancelled = (ContinuousClock.now - began).milliseconds
                    streaming = nil
                }
                if let callSID { try await cut(to: heard, callSID: callSID, timings: TurnTimings(cancel: cancelled)) }
                return .goOn
            case .event(.error), .event(.other):
                return .goOn
            }
            guard let callSID, let input else { return .goOn }
            // A new answer while the previous one is still being generated: that one is dropped
            // (unless it had just ended and been stored).
            if let task = streaming {
                task.cancel()
                let end = await task.value
                streaming = nil
                if case .cancelled = end { try await cut(to: "", callSID: callSID) }
                if case .ended = end { return .stop }
            }
            let answering = { [heardAt] (messages: [ChatMessage], settings: LLMSettings, after: Gate?) in
                Task { await answer(messages, settings, callSID: callSID, heardAt: heardAt, after: after) }
            }
            // Ask the model now, from what this socket last stored, while the words are stored.
            let stored = Gate()
            var early: (messages: [ChatMessage], task: Task<StreamEnd, Never>)?
            if let known = latest.value {
                var conversation = known.conversation
                let next = conversation.hear(
                    input, settings: known.settings, elapsed: Date().timeIntervalSince(known.answeredAt))
                if case .complete(let messages) = next {
                    early = (messages, answering(messages, known.settings, stored))
                }
            }
            let heard: Heard
            do {
                heard = try await hear(input, callSID: callSID)
            } catch {
                early?.task.cancel()
                stored.open()
                throw error
            }
            stored.open()
            if case .ask(let messages, _) = heard, let early, early.messages == messages {
                streaming = early.task
                return .goOn
            }
            // The stored session said otherwise (it changed meanwhile): the early answer is dropped.
            if let early {
                early.task.cancel()
                _ = await early.task.value
            }
            switch heard {
            case .ended: return .stop
            case .spoken: return .goOn
            case .ask(let messages, let settings):
                streaming = answering(messages, settings, nil)
                return .goOn
            }
        }
    }

    /// The socket opened: the greeting (stored, then spoken), or the last thing said again.
    private func open(callSID: String) async throws -> Bool {
        let answer = try await takeTurn(callSID: callSID) { stored in
            guard stored.turn == 0 else { return .replay(turn: stored.turn) }
            var conversation = Conversation()
            guard case .say(let text, _) = conversation.start(greeting: stored.spec.greeting) else {
                return .reject("no greeting")
            }
            return .produce(state: .conversation(conversation), twiml: text, ended: nil)
        }
        if case .twiml(let text) = answer, !text.isEmpty { try await RelayRoutes.say(text, outbound) }
        return false
    }

    enum Heard: Sendable {
        case spoken
        case ended(AgentOutcome)
        case ask([ChatMessage], LLMSettings)
    }

    /// The caller's words, stored with what they lead to: words of our own (silence, goodbye,
    /// time up), or a question for the model.
    private func hear(_ input: CallerInput, callSID: String) async throws -> Heard {
        let asked = Mutex<Heard>(.spoken)
        let answer = try await takeTurn(callSID: callSID) { stored in
            guard case .conversation(var conversation)? = stored.state, let settings = stored.spec.llm else {
                return .reject("not a conversation")
            }
            let now = Date()
            let next = conversation.hear(
                input, settings: settings, elapsed: now.timeIntervalSince(stored.answeredAt ?? now))
            switch next {
            case .say(let text, _):
                asked.withLock { $0 = conversation.outcome.map(Heard.ended) ?? .spoken }
                return .produce(state: .conversation(conversation), twiml: text, ended: conversation.outcome)
            case .complete(let messages):
                asked.withLock { $0 = .ask(messages, settings) }
                return .produce(state: .conversation(conversation), twiml: "", ended: nil)
            case .useTools, .transfer:
                // Hearing the caller never calls a tool: only the model's answer does.
                return .reject("hearing led to a tool")
            }
        }
        guard case .twiml(let text) = answer else {
            logger.notice("relay turn not taken", metadata: ["answer": "\(answer)"])
            return .spoken
        }
        let heard = asked.withLock { $0 }
        if !text.isEmpty { try await RelayRoutes.say(text, outbound) }
        if case .ended(let outcome) = heard { try await RelayRoutes.end(session: session, outcome: outcome, outbound) }
        return heard
    }

    /// Streams the model's answer as `text` tokens, then stores it (or the fallback if the model
    /// failed). When the model calls tools, its words so far are stored with the calls, the tools
    /// run, their answers are stored, and the model is asked again — its next words follow the
    /// first on the socket, so the caller hears one answer. A cancelled stream stores nothing:
    /// the interruption that cancelled it does.
    private func answer(
        _ messages: [ChatMessage], _ settings: LLMSettings, callSID: String, heardAt: ContinuousClock.Instant,
        after stored: Gate? = nil
    ) async -> StreamEnd {
        var messages = messages
        var timings = TurnTimings()
        var spokenInTurn = ""
        let tools = settings.tools ?? []
        while true {
            var spoken = ""
            var usage = (prompt: 0, completion: 0)
            var failed = false
            var pieces = ToolCallAccumulator()
            if let llm = routes.llm {
                do {
                    let requested = ContinuousClock.now
                    let events = llm.stream(
                        model: settings.model, messages: messages, temperature: settings.temperature,
                        maxTokens: settings.maxTokens, tools: tools, deadline: .now + routes.turnDeadline)
                    for try await event in events {
                        switch event {
                        case .token(var token):
                            let first = spokenInTurn.isEmpty && spoken.isEmpty
                            // The answer after a tool round goes on from the words before it.
                            if spoken.isEmpty, let last = spokenInTurn.last, !last.isWhitespace,
                                token.first?.isWhitespace == false
                            {
                                token = " " + token
                            }
                            if first { timings.modelFirstToken = (ContinuousClock.now - requested).milliseconds }
                            spoken += token
                            try await outbound.write(
                                .text(ConversationRelay.Command.text(token: token, last: false).json))
                            if first { timings.firstToken = (ContinuousClock.now - heardAt).milliseconds }
                        case .toolCall(let index, let id, let name, let arguments):
                            pieces.add(index: index, id: id, name: name, arguments: arguments)
                        case .usage(let prompt, let completion): usage = (prompt, completion)
                        case .done: break
                        }
                    }
                } catch {
                    if Task.isCancelled { return .cancelled }
                    if spoken.isEmpty && spokenInTurn.isEmpty {
                        logger.warning(
                            "LLM turn failed; the caller hears the fallback", metadata: ["error": "\(error)"])
                        failed = true
                    } else {
                        // Part of the answer was said: it ends there (a fallback now would be odd).
                        logger.warning(
                            "the model's answer broke off; it ends with what was said", metadata: ["error": "\(error)"])
                        pieces = ToolCallAccumulator()
                    }
                }
            } else {
                logger.error("an LLM voice agent is running but OPENAI_API_KEY is not set")
                failed = true
            }
            await stored?.wait()
            if Task.isCancelled { return .cancelled }
            do {
                let calls = failed ? [] : pieces.calls
                let stepped = try await store(
                    spoken, calls: calls, failed: failed, usage: usage, settings: settings, callSID: callSID,
                    timings: timings)
                spokenInTurn += spoken
                timings = TurnTimings()
                switch stepped {
                case .notTaken:
                    return .spoken
                case .said(let text, let outcome):
                    try await finish(text, spokenInTurn: spokenInTurn, failed: failed, outcome: outcome)
                    return outcome == nil ? .spoken : .ended
                case .tools(let calls, let session):
                    let results = await routes.agentTools.run(
                        calls, tools: tools, session: session, callSID: callSID, deadline: .now + .seconds(10))
                    switch try await storeResults(results, settings: settings, callSID: callSID) {
                    case .ask(let more):
                        messages = more
                    case .said(let text, let outcome):
                        try await finish(text, spokenInTurn: spokenInTurn, failed: false, outcome: outcome)
                        return outcome == nil ? .spoken : .ended
                    case .notTaken:
                        return .spoken
                    }
                }
            } catch {
                logger.warning("could not store the model's answer", metadata: ["error": "\(error)"])
                return .spoken
            }
        }
    }

    enum Stored: Sendable {
        case notTaken
        /// The turn ends with this text (the outcome, if the call ends).
        case said(String, AgentOutcome?)
        case tools([ToolCall], VoiceSession)
    }

    /// Stores the model's answer: words (the turn's end) or tool calls.
    private func store(
        _ spoken: String, calls: [ToolCall], failed: Bool, usage: (prompt: Int, completion: Int),
        settings: LLMSettings, callSID: String, timings: TurnTimings
    ) async throws -> Stored {
        let decided = Mutex<Stored>(.notTaken)
        let answer = try await takeTurn(callSID: callSID, timings: timings) { stored in
            guard case .conversation(var conversation)? = stored.state else { return .reject("not a conversation") }
            let next =
                failed
                ? conversation.failed()
                : conversation.reply(
                    spoken, toolCalls: calls, promptTokens: usage.prompt, completionTokens: usage.completion,
                    settings: settings)
            switch next {
            case .say(let text, _):
                decided.withLock { $0 = .said(text, conversation.outcome) }
                return .produce(state: .conversation(conversation), twiml: text, ended: conversation.outcome)
            case .useTools(let calls):
                decided.withLock { $0 = .tools(calls, stored) }
                return .produce(state: .conversation(conversation), twiml: "", ended: nil)
            case .complete, .transfer:
                return .reject("the model's answer led nowhere")
            }
        }
        guard case .twiml = answer else { return .notTaken }
        return decided.withLock { $0 }
    }

    enum AfterTools: Sendable {
        case notTaken
        case ask([ChatMessage])
        case said(String, AgentOutcome?)
    }

    /// Stores what the tools answered: the model is asked again, or the call ends or is transferred.
    private func storeResults(_ results: [ToolResult], settings: LLMSettings, callSID: String) async throws
        -> AfterTools
    {
        let decided = Mutex<AfterTools>(.notTaken)
        let answer = try await takeTurn(callSID: callSID) { stored in
            guard case .conversation(var conversation)? = stored.state else { return .reject("not a conversation") }
            switch conversation.toolResults(results, settings: settings) {
            case .complete(let messages):
                decided.withLock { $0 = .ask(messages) }
                return .produce(state: .conversation(conversation), twiml: "", ended: nil)
            case .say(let text, _), .transfer(_, let text):
                decided.withLock { $0 = .said(text, conversation.outcome) }
                return .produce(state: .conversation(conversation), twiml: text, ended: conversation.outcome)
            case .useTools:
                return .reject("tool answers led to tools")
            }
        }
        guard case .twiml = answer else { return .notTaken }
        return decided.withLock { $0 }
    }

    /// Says what is left of the turn's `text` (the whole of it if nothing was streamed, else what
    /// the reply added: the goodbye at the turn limit), ends the answer, and ends the session if
    /// the call is over (a transfer: the `<Connect action>` dials).
    private func finish(_ text: String, spokenInTurn: String, failed: Bool, outcome: AgentOutcome?) async throws {
        let said = spokenInTurn.trimmingCharacters(in: .whitespacesAndNewlines)
        let rest: String
        if failed || said.isEmpty {
            rest = text
        } else if said.hasSuffix(text) || text.isEmpty {
            rest = ""
        } else if text.hasPrefix(said) {
            rest = String(text.dropFirst(said.count)).trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            rest = said.contains(text) ? "" : text
        }
        try await outbound.write(
            .text(ConversationRelay.Command.text(token: rest.isEmpty ? "" : " " + rest, last: true).json))
        if let outcome { try await RelayRoutes.end(session: session, outcome: outcome, outbound) }
    }

    /// Keeps in the history only what the caller heard of the last answer.
    private func cut(to heard: String, callSID: String, timings: TurnTimings? = nil) async throws {
        _ = try await takeTurn(callSID: callSID, timings: timings) { stored in
            guard case .conversation(var conversation)? = stored.state else { return .reject("not a conversation") }
            conversation.interrupted(heard: heard)
            return .produce(state: .conversation(conversation), twiml: heard, ended: nil)
        }
    }
}
