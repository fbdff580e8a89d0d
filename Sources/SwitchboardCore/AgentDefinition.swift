/// A stored voice agent that answers inbound calls (`switchboard agents create`): a `voice_agent`
/// job's fields without `account`, `to` and `from`, which each call supplies — the agent talks to
/// the caller from the number called, and `{{caller}}` and `{{called}}` are variables of its
/// templates besides its own `variables`.
public enum AgentDefinition {
    /// Fields a call sets, or that mean nothing for a call someone else made.
    static let perCall: Set<String> = ["account", "to", "from", "sendWindow", "timezone", "timeout"]

    /// Checks a definition once, when it is stored: it must render for any caller. Errors name
    /// the field.
    public static func check(_ definition: JSONValue, account: String) throws(InputError) {
        _ = try spec(definition, account: account, caller: "+15550000001", called: "+15550000002")
    }

    /// The voice-agent spec of one inbound call.
    public static func spec(_ definition: JSONValue, account: String, caller: String, called: String)
        throws(InputError) -> VoiceAgentSpec
    {
        guard case .object(var object) = definition else {
            throw InputError(field: "definition", problem: "must be a JSON object of voice agent fields")
        }
        if let key = object.keys.sorted().first(where: perCall.contains) {
            throw InputError(
                field: key, problem: "is not part of an inbound agent (each call has its caller and the number called)")
        }
        var variables: [String: JSONValue] = [:]
        switch object["variables"] {
        case .object(let given)?: variables = given
        case nil: break
        default: throw InputError(field: "variables", problem: "must be an object")
        }
        variables["caller"] = .string(caller)
        variables["called"] = .string(called)
        object["account"] = .string(account)
        object["to"] = .string(caller)
        object["from"] = .string(called)
        object["variables"] = .object(variables)
        try VoiceAgentRequest.checkFields(object)
        return try JobSpec.decode(VoiceAgentRequest.self, JSONValue.object(object).jsonText).resolve()
    }
}
