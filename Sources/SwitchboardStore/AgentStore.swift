import Foundation
import Postgres
import SwitchboardCore

/// A stored agent (`switchboard agents list`).
public struct AgentRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var account: String
    public var name: String
    /// questions or llm.
    public var agentType: String
    /// The numbers and pools that ring through to it ("+1555…", "pool:support").
    public var bindings: [String]
    public var createdAt: Date
}

/// The agent a called number is bound to, with its definition.
public struct BoundAgent: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var account: String
    public var definition: JSONValue
}

/// Inbound agents (migration 0025): stored definitions, the numbers and pools bound to them, and
/// an inbound call's session opened with a job row that gathers its result as an outbound agent
/// call's does.
public struct AgentStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Adds or replaces an agent (checked by the caller: `AgentDefinition.check`). Returns its id.
    @discardableResult
    public func save(account: String, name: String, definition: JSONValue) async throws -> Int64 {
        try JobSpec.validateName(name, field: "name")
        guard
            let row = try await pool.query(
                """
                INSERT INTO switchboard.agents AS a (account_id, name, definition)
                SELECT id, \(name), \(definition.jsonText)::jsonb FROM switchboard.accounts WHERE name = \(account)
                ON CONFLICT (account_id, name) DO UPDATE SET definition = excluded.definition, updated_at = now()
                RETURNING a.id
                """
            ).first
        else { throw InputError(field: "account", problem: "no account named '\(account.prefix(64))'") }
        return try row.decode(Int64.self, at: 0)
    }

    public func list() async throws -> [AgentRecord] {
        try await pool.query(
            """
            SELECT a.id, acc.name, a.name, coalesce(a.definition ->> 'agentType', 'questions'), a.created_at,
                   coalesce((SELECT array_agg(coalesce(b.address, 'pool:' || p.name) ORDER BY b.id)
                             FROM switchboard.agent_bindings b LEFT JOIN switchboard.pools p ON p.id = b.pool_id
                             WHERE b.agent_id = a.id), '{}')
            FROM switchboard.agents a JOIN switchboard.accounts acc ON acc.id = a.account_id
            ORDER BY acc.name, a.name
            """
        ).map { row in
            AgentRecord(
                id: try row.decode(Int64.self, at: 0), account: try row.decode(String.self, at: 1),
                name: try row.decode(String.self, at: 2), agentType: try row.decode(String.self, at: 3),
                bindings: try row.decode([String].self, at: 5), createdAt: try row.decode(Date.self, at: 4))
        }
    }

    public enum Target: Sendable, Equatable {
        case number(String)
        case pool(String)
    }

    /// Binds a number or a pool of the agent's account to it (replacing what it was bound to).
    /// Errors name the field.
    public func bind(account: String, agent: String, to target: Target) async throws {
        try await pool.transaction { connection in
            guard
                let found = try await connection.query(
                    """
                    SELECT a.id, a.account_id FROM switchboard.agents a
                    JOIN switchboard.accounts acc ON acc.id = a.account_id
                    WHERE acc.name = \(account) AND a.name = \(agent)
                    """
                ).first
            else {
                throw InputError(
                    field: "agent", problem: "no agent '\(agent.prefix(64))' in account '\(account.prefix(64))'")
            }
            let agentID = try found.decode(Int64.self, at: 0)
            let accountID = try found.decode(Int64.self, at: 1)
            switch target {
            case .number(let address):
                try await connection.query(
                    """
                    INSERT INTO switchboard.agent_bindings (agent_id, account_id, address)
                    VALUES (\(agentID), \(accountID), \(address))
                    ON CONFLICT (account_id, address) WHERE address IS NOT NULL DO UPDATE SET agent_id = excluded.agent_id
                    """)
            case .pool(let name):
                let bound = try await connection.query(
                    """
                    INSERT INTO switchboard.agent_bindings (agent_id, account_id, pool_id)
                    SELECT \(agentID), \(accountID), id FROM switchboard.pools WHERE name = \(name)
                    ON CONFLICT (pool_id) WHERE pool_id IS NOT NULL DO UPDATE SET agent_id = excluded.agent_id
                    RETURNING 1
                    """)
                guard !bound.isEmpty else {
                    throw InputError(field: "pool", problem: "no pool named '\(name.prefix(64))'")
                }
            }
        }
    }

    /// Removes a number's or a pool's binding. Returns whether there was one.
    public func unbind(account: String, _ target: Target) async throws -> Bool {
        switch target {
        case .number(let address):
            return try await pool.query(
                """
                DELETE FROM switchboard.agent_bindings b USING switchboard.accounts acc
                WHERE acc.id = b.account_id AND acc.name = \(account) AND b.address = \(address)
                """
            ).affectedRows > 0
        case .pool(let name):
            return try await pool.query(
                """
                DELETE FROM switchboard.agent_bindings b USING switchboard.pools p, switchboard.accounts acc
                WHERE p.id = b.pool_id AND p.name = \(name) AND acc.id = b.account_id AND acc.name = \(account)
                """
            ).affectedRows > 0
        }
    }

    /// Deletes an agent and its bindings. Returns whether it existed.
    public func delete(account: String, name: String) async throws -> Bool {
        try await pool.query(
            """
            DELETE FROM switchboard.agents a USING switchboard.accounts acc
            WHERE acc.id = a.account_id AND acc.name = \(account) AND a.name = \(name)
            """
        ).affectedRows > 0
    }

    /// The agent that answers calls to `called` on this account: the number's own binding, else
    /// that of a pool it is in.
    public func agent(accountID: Int64, called: String) async throws -> BoundAgent? {
        guard
            let row = try await pool.query(
                """
                SELECT a.id, a.name, acc.name, a.definition::text
                FROM switchboard.agent_bindings b
                JOIN switchboard.agents a ON a.id = b.agent_id
                JOIN switchboard.accounts acc ON acc.id = a.account_id
                WHERE b.account_id = \(accountID)
                  AND (b.address = \(called)
                       OR b.pool_id IN (SELECT ps.pool_id FROM switchboard.pool_senders ps
                                        JOIN switchboard.senders s ON s.id = ps.sender_id
                                        WHERE s.account_id = \(accountID) AND s.address = \(called)))
                ORDER BY b.address IS NULL, b.id
                LIMIT 1
                """
            ).first
        else { return nil }
        return BoundAgent(
            id: try row.decode(Int64.self, at: 0), name: try row.decode(String.self, at: 1),
            account: try row.decode(String.self, at: 2),
            definition: try JSONDecoder().decode(JSONValue.self, from: Data(try row.decode(String.self, at: 3).utf8)))
    }

    /// Opens the session of an inbound call, in one transaction: a job row (`inbound_call`,
    /// finished at once, so no worker ever claims it) whose result the session's end completes
    /// as an outbound agent call's, the session bound to the call, and the call's row (origin
    /// `inbound`) that its status callbacks update. A repeated request for the same call finds
    /// the session it opened. Returns the session's id.
    public func openInbound(
        accountID: Int64, callSID: String, caller: String, called: String, agent: BoundAgent, spec: VoiceAgentSpec
    ) async throws -> Int64 {
        try await pool.transaction { connection in
            // One opening per call, whichever host Twilio's retry reaches.
            try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(callSID), 1398227535))")
            if let existing = try await connection.query(
                "SELECT id FROM switchboard.voice_sessions WHERE call_sid = \(callSID) AND account_id = \(accountID)"
            ).first {
                return try existing.decode(Int64.self, at: 0)
            }
            let payload: JSONValue = .object([
                "agent": .string(agent.name), "caller": .string(caller), "called": .string(called),
                "callSid": .string(callSID),
            ])
            let jobID = try await connection.query(
                """
                INSERT INTO switchboard.jobs (kind, state, payload, result, attempt, attempted_at, finished_at)
                VALUES ('inbound_call', 'completed', \(payload.jsonText)::jsonb,
                        jsonb_build_object('callSid', \(callSID)::text, 'direction', 'inbound', 'agent', \(agent.name)::text,
                            'callerNumber', \(caller)::text, 'calledNumber', \(called)::text),
                        1, now(), now())
                RETURNING id
                """
            )[0].decode(Int64.self, at: 0)
            let sessionID = try await connection.query(
                """
                INSERT INTO switchboard.voice_sessions (job_id, account_id, agent_type, spec, call_sid)
                VALUES (\(jobID), \(accountID), \(spec.agentType), \(try PostgresJSON.encoding(spec).text)::jsonb, \(callSID))
                RETURNING id
                """
            )[0].decode(Int64.self, at: 0)
            try await JobStore.mergeResult(jobID: jobID, over: .object(["sessionId": .int(sessionID)]), on: connection)
            try await connection.query(
                """
                INSERT INTO switchboard.calls (sid, job_id, account_id, to_address, from_address, status, origin)
                VALUES (\(callSID), \(jobID), \(accountID), \(called), \(caller), 'in-progress', 'inbound')
                ON CONFLICT (sid) DO NOTHING
                """)
            return sessionID
        }
    }
}
