import Foundation

/// "3m ago", "in 12s", "now": a time relative to `now`, for tables and the dashboard.
public enum RelativeTime {
    public static func text(for date: Date, now: Date) -> String {
        let seconds = date.timeIntervalSince(now)
        guard seconds.isFinite else { return "-" }
        let magnitude = abs(seconds)
        let text: String
        switch magnitude {
        case ..<1: return "now"
        case ..<120: text = "\(Int(magnitude))s"
        case ..<7200: text = "\(Int(magnitude / 60))m"
        case ..<172_800: text = "\(Int(magnitude / 3600))h"
        default: text = "\(Int(min(magnitude, 1e12) / 86400))d"
        }
        return seconds < 0 ? "\(text) ago" : "in \(text)"
    }
}
