extension TwiML {
    static let header = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"

    /// An answer that does nothing.
    public static let empty = header + "<Response/>"

    /// Replies to an inbound message with `text` (nothing when it is empty).
    public static func message(_ text: String) -> String {
        text.isEmpty ? empty : header + "<Response><Message>" + escape(text) + "</Message></Response>"
    }
}
