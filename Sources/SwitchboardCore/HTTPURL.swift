import Foundation

/// The check every configured base URL gets (public URL, Twilio, the model API): http or https,
/// with a host, and (for bases that paths are appended to) no query string.
public enum HTTPURL {
    /// The WebSocket form of an http(s) base: `https://…` as `wss://…`, `http://…` as `ws://…`
    /// (what Twilio connects to, and signs, for a ConversationRelay socket).
    public static func webSocketForm(_ url: String) -> String {
        if url.hasPrefix("https://") { return "wss://" + url.dropFirst("https://".count) }
        if url.hasPrefix("http://") { return "ws://" + url.dropFirst("http://".count) }
        return url
    }

    public static func isValidBase(_ text: String, allowQuery: Bool = false) -> Bool {
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            return false
        }
        return allowQuery || url.query == nil
    }

    /// An http(s) URL with a host (callbacks, media).
    public static func isHTTP(_ text: String) -> Bool {
        guard text.hasPrefix("https://") || text.hasPrefix("http://") else { return false }
        return isValidBase(text, allowQuery: true)
    }
}
