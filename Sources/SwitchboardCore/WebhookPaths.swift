/// The paths Twilio calls on `switchboard webhook`, relative to its public URL. The webhook serves
/// them and the worker hands them to Twilio (status callbacks, voice-agent calls): one spelling,
/// so the two cannot drift apart.
public enum WebhookPaths {
    /// Tracked links (`/l/{code}`): public, no Twilio signature.
    public static let links = "/l"
    public static let messageStatus = "/twilio/messages/status"
    public static let callStatus = "/twilio/calls/status"
    public static let inboundMessage = "/twilio/messages/inbound"
    /// A number's "A call comes in" webhook: the agent bound to it answers.
    public static let inboundCall = "/twilio/voice/inbound"
    /// Twilio's RecordingStatusCallback for recorded calls.
    public static let recordingStatus = "/twilio/recordings/status"

    /// The router's patterns for a voice-agent session's turns (`:session`, `:turn` are parameters).
    public static let sessionPattern = "/twilio/voice/sessions/:session"
    public static let sessionTurnPattern = "/twilio/voice/sessions/:session/turns/:turn"

    /// The first turn of a voice-agent session (the call's URL).
    public static func session(_ id: Int64) -> String { "/twilio/voice/sessions/\(id)" }

    /// The ConversationRelay socket of a voice-agent session (`wss://…`; `:session` a parameter).
    public static let relayPattern = "/twilio/relay/:session"

    /// A session's ConversationRelay socket.
    public static func relay(_ id: Int64) -> String { "/twilio/relay/\(id)" }

    /// The `<Connect action>` Twilio requests when a session's relay ends.
    public static let relayEndedPattern = "/twilio/relay/:session/ended"
    public static func relayEnded(_ id: Int64) -> String { relay(id) + "/ended" }

    /// Turn `turn` of a session (each answer's `<Gather action>`).
    public static func sessionTurn(_ id: Int64, _ turn: Int) -> String { session(id) + "/turns/\(turn)" }
}
