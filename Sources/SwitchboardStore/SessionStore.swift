import Foundation
import Postgres
import SwitchboardCore

/// A voice-agent session as stored.
public struct VoiceSession: Sendable, Equatable {
    public var id: Int64
    public var jobID: Int64?
    public var accountID: Int64
    public var callSID: String?
    public var spec: VoiceAgentSpec
    public var state: SessionState?
    /// Prompts produced so far.
    public var turn: Int
    public var status: SessionStatus
    public var outcome: AgentOutcome?
    /// When the call was answered (its first request), if it was.
    public var answeredAt: Date?
    /// Raised by every change: a turn is stored only if the session is still the one it was
    /// planned from.
    public var version: Int = 0
    /// The turn that continued the call by `<Gather>` after its relay session ended, if one did.
    public var relayEndedTurn: Int? = nil
}

/// `pending` until Twilio asks for the first turn, `active` while the call runs, then `ended`.
extension AgentOutcome: PostgresCodable {}

public enum SessionStatus: String, Sendable, Equatable, Codable, CaseIterable, PostgresCodable {
    case pending, active, ended
}

/// How quickly a relay turn was answered, measured by the webhook (milliseconds), stored with the
/// turn (see Schema/0014_relay_timings.sql).
public struct TurnTimings: Sendable, Equatable {
    /// The caller's final words received → the answer's first token sent.
    public var firstToken: Double?
    /// The model request sent → its first token received.
    public var modelFirstToken: Double?
    /// An interrupt received → the model's stream cancelled and ended.
    public var cancel: Double?

    public init(firstToken: Double? = nil, modelFirstToken: Double? = nil, cancel: Double? = nil) {
        self.firstToken = firstToken
        self.modelFirstToken = modelFirstToken
        self.cancel = cancel
    }
}

public enum TurnAnswer: Sendable, Equatable {
    case twiml(String)
    case notFound
    case rejected(String)
}

/// Voice-agent sessions in Postgres: each turn is stored only if the session is still the version
/// it was planned from, so two webhook hosts serving one call's requests behave like one, and
/// every produced TwiML is kept for repeated requests.
/// Ended sessions write their answers and transcript into the job's result and are announced with
/// `NOTIFY switchboard_sessions` (payload: JSON with jobId, sessionId, outcome).
public struct SessionStore: Sendable {
    public let pool: PostgresPool
    public static let channel = "switchboard_sessions"

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// The session of a job (created on its first attempt, reused by later ones).
    public func open(jobID: Int64, accountID: Int64, spec: VoiceAgentSpec) async throws -> Int64 {
        try await pool.query(
            """
            INSERT INTO switchboard.voice_sessions (job_id, account_id, agent_type, spec)
            VALUES (\(jobID), \(accountID), \(spec.agentType), \(try PostgresJSON.encoding(spec).text)::jsonb)
            ON CONFLICT (job_id) DO UPDATE SET updated_at = now()
            RETURNING id
            """
        )[0].decode(Int64.self, at: 0)
    }

    public func attach(sessionID: Int64, callSID: String) async throws {
        try await pool.query(
            """
            UPDATE switchboard.voice_sessions SET call_sid = \(callSID), updated_at = now()
            WHERE id = \(sessionID) AND (call_sid IS NULL OR call_sid = \(callSID))
            """)
    }

    public func session(id: Int64) async throws -> VoiceSession? {
        try await pool.query("\(unescaped: Self.select) WHERE id = \(id)").first.map(Self.session)
    }

    /// How many times a turn is planned again after losing a race before the request is refused.
    public static let turnAttempts = 5

    /// Takes one turn. No transaction is open and no connection is held while `plan` runs (it
    /// may wait seconds for a model): the session is read, `plan` decides, and the outcome is
    /// stored only if the session is still the version it was planned from. When another
    /// request of the call (a Twilio retry, on any host) or the call's end came first, the
    /// session is read and planned again, and a repeated turn then replays what the winner
    /// stored. So `plan` may run more than once.
    ///
    /// `continuesRelay` marks the produced turn as the one that continued the call by `<Gather>`
    /// after its relay session ended (`VoiceSession.relayEndedTurn`); `timings` are stored with it.
    public func takeTurn(
        sessionID: Int64, accountID: Int64, callSID: String, continuesRelay: Bool = false,
        timings: TurnTimings? = nil, plan: @Sendable (VoiceSession) async throws -> TurnPlan
    ) async throws -> TurnAnswer {
        for _ in 1...Self.turnAttempts {
            guard let session = try await session(id: sessionID), session.accountID == accountID else {
                return .notFound
            }
            if let known = session.callSID, known != callSID {
                return .rejected("the session belongs to another call")
            }
            switch try await plan(session) {
            case .reject(let reason):
                return .rejected(reason)
            case .replay(let turn):
                // Stored turns never change: no lock needed to read one.
                let stored = try await pool.query(
                    "SELECT twiml FROM switchboard.voice_turns WHERE session_id = \(sessionID) AND turn = \(turn)"
                ).first
                guard let stored else { return .rejected("turn \(turn) was never produced") }
                return .twiml(try stored.decode(String.self, at: 0))
            case .produce(let state, let twiml, let ended):
                if try await store(
                    state: state, twiml: twiml, ended: ended, of: session, callSID: callSID,
                    continuesRelay: continuesRelay, timings: timings ?? TurnTimings())
                {
                    return .twiml(twiml)
                }
            }
        }
        return .rejected("the session kept changing while this turn was planned; ask again")
    }

    /// Stores a produced turn if the session is still at `session.version`; false when another
    /// writer came first (nothing is written then).
    private func store(
        state: SessionState, twiml: String, ended: AgentOutcome?, of session: VoiceSession, callSID: String,
        continuesRelay: Bool, timings: TurnTimings
    ) async throws -> Bool {
        try await pool.transaction { connection in
            let turn = session.turn + 1
            // The version guard makes a concurrent writer wait for this row and then match nothing.
            let updated = try await connection.query(
                """
                UPDATE switchboard.voice_sessions SET state = \(try PostgresJSON.encoding(state).text)::jsonb,
                    turn = \(turn), call_sid = \(callSID), version = version + 1, updated_at = now(),
                    answered_at = coalesce(answered_at, now()),
                    prompt_tokens = \(state.tokens.prompt), completion_tokens = \(state.tokens.completion),
                    status = CASE WHEN \(ended)::text IS NULL THEN 'active' ELSE 'ended' END,
                    outcome = \(ended), ended_at = CASE WHEN \(ended)::text IS NULL THEN NULL ELSE now() END,
                    relay_ended_turn = CASE WHEN \(continuesRelay) THEN \(turn) ELSE relay_ended_turn END
                WHERE id = \(session.id) AND version = \(session.version)
                RETURNING id
                """)
            guard !updated.isEmpty else { return false }
            try await connection.query(
                """
                INSERT INTO switchboard.voice_turns (session_id, turn, twiml, first_token_ms, model_first_token_ms, cancel_ms)
                VALUES (\(session.id), \(turn), \(twiml), \(timings.firstToken), \(timings.modelFirstToken), \(timings.cancel))
                """)
            if let ended {
                var session = session
                session.callSID = callSID
                try await Self.finish(session, state: state, outcome: ended, on: connection)
            }
            return true
        }
    }

    /// The call ended (status callback): a session still running ends with `outcome` and what it
    /// gathered so far. Returns whether it was still running.
    @discardableResult
    public func endCall(callSID: String, accountID: Int64, outcome: AgentOutcome) async throws -> Bool {
        try await pool.transaction { connection in
            guard
                let row = try await connection.query(
                    """
                    \(unescaped: Self.select)
                    WHERE call_sid = \(callSID) AND account_id = \(accountID) AND status <> 'ended' FOR UPDATE
                    """
                ).first
            else { return false }
            let session = try Self.session(row)
            try await connection.query(
                """
                UPDATE switchboard.voice_sessions SET status = 'ended', outcome = \(outcome), ended_at = now(),
                    version = version + 1, updated_at = now()
                WHERE id = \(session.id)
                """)
            try await Self.finish(session, state: session.state, outcome: outcome, on: connection)
            return true
        }
    }

    /// Most sessions `expire` ends in one transaction.
    public static let expireBatchLimit = 100

    /// Ends sessions whose call should long be over (its time limit, counted from the answer or,
    /// if it never was, from its creation, plus `grace`) but that no status callback closed — a lost
    /// callback must not leave a session running for ever. Any webhook host may run this; sessions
    /// another host is handling are skipped. Returns how many ended.
    @discardableResult
    public func expire(grace: Duration = .seconds(300), limit: Int = expireBatchLimit) async throws -> Int {
        try await pool.transaction { connection in
            let rows = try await connection.query(
                """
                \(unescaped: Self.select)
                WHERE status <> 'ended'
                  AND coalesce(answered_at, created_at)
                      + ((spec->>'timeLimit')::float8 + \(grace.seconds)) * interval '1 second' < now()
                ORDER BY id LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
                """)
            for row in rows {
                let session = try Self.session(row)
                try await connection.query(
                    """
                    UPDATE switchboard.voice_sessions SET status = 'ended', outcome = 'timeout', ended_at = now(),
                        version = version + 1, updated_at = now()
                    WHERE id = \(session.id)
                    """)
                try await Self.finish(session, state: session.state, outcome: .timeout, on: connection)
            }
            return rows.count
        }
    }

    /// Writes the answers (also as top-level workflow variables by question id, where no other key
    /// has that name), the transcript and the outcome into the job's result, and announces it.
    static func finish(
        _ session: VoiceSession, state: SessionState?, outcome: AgentOutcome, on connection: PostgresConnection
    ) async throws {
        let answers = (state?.answers ?? [:]).mapValues { JSONValue.string($0) }
        let spokenTranscript: [JSONValue] = (state?.spokenLines ?? []).map { line in
            var object: [String: JSONValue] = ["speaker": .string(line.speaker.rawValue), "text": .string(line.text)]
            if case .interview = state { object["questionId"] = line.questionId.map { .string($0) } ?? .null }
            return .object(object)
        }
        var fields: [String: JSONValue] = ["agentOutcome": .string(outcome.rawValue), "sessionId": .int(session.id)]
        var transcript = spokenTranscript
        if case .conversation(let conversation)? = state {
            fields["promptTokens"] = .int(Int64(conversation.promptTokens))
            fields["completionTokens"] = .int(Int64(conversation.completionTokens))
            let uses = conversation.toolUses
            if !uses.isEmpty {
                fields["toolCalls"] = .array(uses.map(Self.toolUse))
                transcript = Self.transcriptWithTools(conversation)
            }
        } else {
            fields["answers"] = .object(answers)
        }
        fields["transcript"] = .array(transcript)
        if let jobID = session.jobID {
            try await JobStore.mergeResult(jobID: jobID, under: .object(answers), over: .object(fields), on: connection)
        }
        var data = fields
        data["callSid"] = session.callSID.map { .string($0) } ?? .null
        data["to"] = .string(session.spec.to)
        data["agentType"] = .string(session.spec.agentType)
        let announcement: String? = session.jobID.map { jobID in
            JSONValue.object([
                "jobId": .int(jobID), "sessionId": .int(session.id), "outcome": .string(outcome.rawValue),
            ]).jsonText
        }
        // Ordered with its call's events (call.completed) when it has a call.
        let subject = session.callSID.map { "call:\($0)" } ?? "session:\(session.id)"
        try await connection.query(
            """
            SELECT switchboard.emit_event('session.completed', \(subject), \(session.accountID),
                       \(JSONValue.object(data).jsonText)::jsonb, \(session.jobID)),
                   CASE WHEN \(announcement)::text IS NOT NULL THEN pg_notify(\(Self.channel), \(announcement)) END
            """)
    }

    /// A tool call for the result: its name, its arguments (as JSON when they parse) and answer.
    static func toolUse(_ use: (call: ToolCall, result: String?)) -> JSONValue {
        let arguments =
            (try? JSONDecoder().decode(JSONValue.self, from: Data(use.call.arguments.utf8)))
            ?? .string(use.call.arguments)
        return .object([
            "name": .string(use.call.name), "arguments": arguments, "result": use.result.map { .string($0) } ?? .null,
        ])
    }

    /// The spoken lines with the tool calls where they happened (`speaker: "tool"`).
    static func transcriptWithTools(_ conversation: Conversation) -> [JSONValue] {
        let uses = Dictionary(conversation.toolUses.map { ($0.call.id, $0) }, uniquingKeysWith: { first, _ in first })
        var lines: [JSONValue] = []
        for message in conversation.history {
            if message.isSpoken {
                lines.append(
                    .object([
                        "speaker": .string(message.role == "user" ? Speaker.caller.rawValue : Speaker.agent.rawValue),
                        "text": .string(message.content),
                    ]))
            }
            for call in message.toolCalls ?? [] {
                guard let use = uses[call.id], case .object(var entry) = toolUse(use) else { continue }
                entry["speaker"] = .string("tool")
                lines.append(.object(entry))
            }
        }
        return lines
    }

    /// A session by its id, its call's SID or its job's id (for `sessions show` and the dashboard).
    public func find(id: Int64? = nil, callSID: String? = nil, jobID: Int64? = nil) async throws -> VoiceSession? {
        try await pool.query(
            """
            \(unescaped: Self.select)
            WHERE id = \(id) OR call_sid = \(callSID) OR job_id = \(jobID) ORDER BY id DESC LIMIT 1
            """
        ).first.map(Self.session)
    }

    /// Calls in progress (answered, not ended), oldest first.
    public func live(limit: Int = 50) async throws -> [VoiceSession] {
        try await pool.query(
            "\(unescaped: Self.select) WHERE status = 'active' ORDER BY created_at LIMIT \(limit)"
        ).map(Self.session)
    }

    /// The latest sessions, newest first.
    public func recent(limit: Int = 20) async throws -> [VoiceSession] {
        try await pool.query("\(unescaped: Self.select) ORDER BY id DESC LIMIT \(limit)").map(Self.session)
    }

    static let select = """
        SELECT id, job_id, account_id, call_sid, spec, state, turn, status, outcome, answered_at, version,
            relay_ended_turn
        FROM switchboard.voice_sessions
        """

    static func session(_ row: PostgresRow) throws -> VoiceSession {
        VoiceSession(
            id: try row.decode(Int64.self, at: 0), jobID: try row.decode(Int64?.self, at: 1),
            accountID: try row.decode(Int64.self, at: 2), callSID: try row.decode(String?.self, at: 3),
            spec: try row.decode(PostgresJSON.self, at: 4).decode(VoiceAgentSpec.self),
            state: try row.decode(PostgresJSON?.self, at: 5).map { try $0.decode(SessionState.self) },
            turn: try row.decode(Int.self, at: 6), status: try row.decode(SessionStatus.self, at: 7),
            // An outcome this version does not know (written by a newer one) reads as none.
            outcome: try row.decode(String?.self, at: 8).flatMap(AgentOutcome.init(rawValue:)),
            answeredAt: try row.decode(Date?.self, at: 9),
            version: try row.decode(Int.self, at: 10), relayEndedTurn: try row.decode(Int?.self, at: 11))
    }
}

extension SessionState {
    /// Model tokens used so far (LLM conversations).
    var tokens: (prompt: Int, completion: Int) {
        if case .conversation(let conversation) = self {
            return (conversation.promptTokens, conversation.completionTokens)
        }
        return (0, 0)
    }
}
