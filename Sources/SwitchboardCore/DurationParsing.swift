/// Parses durations written for humans in flags and environment variables: `250ms`, `30s`,
/// `5m`, `2h`, `7d`, or a bare number of seconds (`1.5`).
public enum DurationParsing {
    public static func parse(_ text: String, field: String) throws(InputError) -> Duration {
        let trimmed = text.trimmingSpaces()
        let units: [(suffix: String, seconds: Double)] = [
            ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400),
        ]
        var number = Substring(trimmed)
        var scale = 1.0
        for unit in units where trimmed.hasSuffix(unit.suffix) {
            number = trimmed.dropLast(unit.suffix.count)
            scale = unit.seconds
            break
        }
        guard let value = Double(number), value.isFinite, value >= 0 else {
            throw InputError(
                field: field, problem: "'\(text)' is not a duration (examples: 250ms, 30s, 5m, 2h, 7d)")
        }
        return .milliseconds(Int64((value * scale * 1000).rounded()))
    }
}

extension String {
    func trimmingSpaces() -> String {
        // Most text has nothing to trim: no Character walk for it.
        if let first = utf8.first, let last = utf8.last, first > 0x20, first < 0x80, last > 0x20, last < 0x7f {
            return self
        }
        var view = Substring(self)
        while view.first?.isWhitespace == true { view.removeFirst() }
        while view.last?.isWhitespace == true { view.removeLast() }
        return String(view)
    }
}
