/// Why a voice-agent session ended: the session's `outcome` and the job result's `agentOutcome`.
public enum AgentOutcome: String, Sendable, Equatable, Codable, CaseIterable {
    /// An interview ran out of questions.
    case completed
    /// A flow's `end_call` action.
    case endCall = "end_call"
    /// The caller stayed silent.
    case unanswered
    /// The session's time limit passed (or no callback closed it in time).
    case timeout
    /// An LLM agent heard a goodbye.
    case callerGoodbye = "caller_goodbye"
    /// An LLM agent reached its turn limit.
    case maxTurns = "max_turns"
    /// An LLM agent ended the call (its `end_call` tool).
    case agentEnded = "agent_ended"
    /// An LLM agent transferred the caller (its `transfer_call` tool).
    case transferred
    /// The call ended while the agent was still talking.
    case hangup
    /// The call never connected: its final status.
    case busy, failed
    case noAnswer = "no-answer"
    case canceled

    /// The outcome of a session whose call reached a final status before the agent ended it.
    public init(callEnded status: CallStatus) {
        switch status {
        case .busy: self = .busy
        case .failed: self = .failed
        case .noAnswer: self = .noAnswer
        case .canceled: self = .canceled
        case .completed, .queued, .initiated, .ringing, .inProgress: self = .hangup
        }
    }
}

/// Who said a line of a voice-agent session's transcript.
public enum Speaker: String, Sendable, Equatable, Codable, CaseIterable {
    case agent, caller
}
