/// Twilio's standard opt-out, opt-in and help keywords (twilio-facts.md §7). Only a message that is
/// exactly one keyword counts ("STOP", " stop "), case-insensitively; "STOP PLEASE" is an
/// ordinary reply.
public enum OptOutKeywords {
    public enum Intent: String, Sendable, Equatable {
        case optOut = "opt_out"
        case optIn = "opt_in"
        case help
    }

    public static let optOut: Set<String> = [
        "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT",
    ]
    public static let optIn: Set<String> = ["START", "YES", "UNSTOP"]
    public static let help: Set<String> = ["HELP", "INFO"]

    /// The keyword's meaning, or nil for an ordinary message.
    public static func intent(of body: String) -> Intent? {
        var word = body.trimmingSpaces()
        // Trailing punctuation people type ("Stop!", "STOP.") does not make it a sentence.
        while let last = word.last, ".!?".contains(last) { word.removeLast() }
        let keyword = word.uppercased()
        if optOut.contains(keyword) { return .optOut }
        if optIn.contains(keyword) { return .optIn }
        if help.contains(keyword) { return .help }
        return nil
    }
}
