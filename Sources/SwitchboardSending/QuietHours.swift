import Foundation
import SwitchboardCore

/// A daily window in the recipient's local time when sending is allowed, e.g. 08:00–21:00.
/// A window may wrap midnight (21:00–08:00).
public struct SendWindow: Sendable, Codable, Equatable {
    /// Minutes after local midnight.
    public var start: Int
    public var end: Int

    /// Parses `HH:MM-HH:MM`; the error names `field`.
    public init(parsing text: String, field: String = "sendWindow") throws(InputError) {
        let parts = text.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
        func minutes(_ part: String) -> Int? {
            let pieces = part.split(separator: ":")
            guard pieces.count == 2, let hours = Int(pieces[0]), let mins = Int(pieces[1]), (0...24).contains(hours),
                (0...59).contains(mins), hours * 60 + mins <= 1440
            else { return nil }
            return hours * 60 + mins
        }
        guard parts.count == 2, let start = minutes(parts[0]), let end = minutes(parts[1]) else {
            throw InputError(field: field, problem: "'\(text)' is not a window like 08:00-21:00")
        }
        guard start != end else { throw InputError(field: field, problem: "'\(text)' is empty (start equals end)") }
        self.start = start
        self.end = end
    }

    func contains(minute: Int) -> Bool {
        start < end ? (minute >= start && minute < end) : (minute >= start || minute < end)
    }

    /// `nil` when `date` is inside the window in `timeZone`; otherwise when it next opens.
    public func nextOpening(after date: Date, in timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.hour, .minute], from: date)
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        guard !contains(minute: minute) else { return nil }
        // The window opens at `start` today if that is still ahead, else tomorrow.
        let startOfDay = calendar.startOfDay(for: date)
        for dayOffset in 0...2 {
            guard let day = calendar.date(byAdding: .day, value: dayOffset, to: startOfDay),
                let opening = calendar.date(bySettingHour: start / 60, minute: start % 60, second: 0, of: day)
            else { continue }
            if opening > date { return opening }
        }
        return nil
    }
}

/// Quiet hours for one message: the window and the zone it is read in.
public struct QuietHours: Sendable, Codable, Equatable {
    public var window: SendWindow
    public var timeZone: String

    /// Validates the window and finds the time zone: the one given, else the number's own.
    public static func resolve(window text: String?, timeZone given: String?, recipient: PhoneNumber) throws(InputError)
        -> QuietHours?
    {
        guard let text else {
            if given != nil, TimeZone(identifier: given!) == nil {
                throw InputError(field: "timezone", problem: "'\(given!)' is not a time zone (e.g. America/New_York)")
            }
            return nil
        }
        let window = try SendWindow(parsing: text)
        if let given {
            guard TimeZone(identifier: given) != nil else {
                throw InputError(field: "timezone", problem: "'\(given)' is not a time zone (e.g. America/New_York)")
            }
            return QuietHours(window: window, timeZone: given)
        }
        guard let guessed = RecipientTimeZone.guess(recipient) else {
            throw InputError(
                field: "timezone",
                problem:
                    "is required with sendWindow: the time zone of \(recipient.e164) cannot be told from the number")
        }
        return QuietHours(window: window, timeZone: guessed)
    }

    /// How long to wait before sending, or nil to send now.
    public func wait(from now: Date) -> Duration? {
        guard let zone = TimeZone(identifier: timeZone), let opening = window.nextOpening(after: now, in: zone) else {
            return nil
        }
        return .milliseconds(Int64(opening.timeIntervalSince(now) * 1000) + 1)
    }
}
