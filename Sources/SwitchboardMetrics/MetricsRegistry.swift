import Synchronization

/// A small Prometheus client: counters, gauges and histograms with labels, rendered in the text
/// exposition format (version 0.0.4) with HELP and TYPE lines. No I/O: a process serves
/// `registry.exposition()` on its own `/metrics` route.
public final class MetricsRegistry: Sendable {
    private let families = Mutex<[any MetricFamily]>([])

    public init() {}

    public func counter(_ name: String, help: String, labels: [String] = []) -> Counter {
        register(Counter(name: name, help: help, labelNames: labels))
    }

    public func gauge(_ name: String, help: String, labels: [String] = []) -> Gauge {
        register(Gauge(name: name, help: help, labelNames: labels))
    }

    public func histogram(_ name: String, help: String, labels: [String] = [], buckets: [Double]) -> Histogram {
        register(Histogram(name: name, help: help, labelNames: labels, buckets: buckets))
    }

    private func register<Family: MetricFamily>(_ family: Family) -> Family {
        families.withLock { $0.append(family) }
        return family
    }

    /// Every family in registration order.
    public func exposition() -> String {
        var text = ""
        for family in families.withLock({ $0 }) { family.render(into: &text) }
        return text
    }
}

protocol MetricFamily: Sendable {
    func render(into text: inout String)
}

/// Label values in the family's label order.
public typealias LabelValues = [String]

/// The exposition format's escapes: backslash and newline (and, in label values, the double quote).
private func escaped(_ text: String, quotes: Bool) -> String {
    var result = ""
    for character in text {
        switch character {
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\"" where quotes: result += "\\\""
        default: result.append(character)
        }
    }
    return result
}

private func header(_ name: String, _ help: String, _ type: String, into text: inout String) {
    text += "# HELP \(name) \(escaped(help, quotes: false))\n# TYPE \(name) \(type)\n"
}

private func labelText(_ names: [String], _ values: LabelValues, extra: (String, String)? = nil) -> String {
    var pairs = zip(names, values).map { ($0, $1) }
    if let extra { pairs.append(extra) }
    guard !pairs.isEmpty else { return "" }
    let rendered = pairs.map { name, value in "\(name)=\"\(escaped(value, quotes: true))\"" }
    return "{" + rendered.joined(separator: ",") + "}"
}

private func number(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return String(value)
}

private func checked(_ values: LabelValues, _ names: [String], _ metric: String) -> LabelValues {
    precondition(values.count == names.count, "\(metric) takes labels \(names), got \(values)")
    return values
}

/// One value per label set, rendered as `name{labels} value` lines: what counters and gauges share.
final class Samples: Sendable {
    let name: String
    let help: String
    let type: String
    let labelNames: [String]
    private let values = Mutex<[LabelValues: Double]>([:])

    init(name: String, help: String, type: String, labelNames: [String]) {
        self.name = name
        self.help = help
        self.type = type
        self.labelNames = labelNames
    }

    func update(_ labels: LabelValues, _ change: (inout Double) -> Void) {
        let key = checked(labels, labelNames, name)
        values.withLock { change(&$0[key, default: 0]) }
    }

    func replaceAll(_ series: [LabelValues: Double]) {
        for key in series.keys { _ = checked(key, labelNames, name) }
        values.withLock { $0 = series }
    }

    func render(into text: inout String) {
        header(name, help, type, into: &text)
        for (labels, value) in values.withLock({ $0 }).sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            text += "\(name)\(labelText(labelNames, labels)) \(number(value))\n"
        }
    }
}

/// A value that only goes up (`*_total`).
public final class Counter: MetricFamily {
    let samples: Samples

    init(name: String, help: String, labelNames: [String]) {
        samples = Samples(name: name, help: help, type: "counter", labelNames: labelNames)
    }

    public func increment(_ labels: LabelValues = [], by amount: Double = 1) {
        samples.update(labels) { $0 += max(0, amount) }
    }

    func render(into text: inout String) { samples.render(into: &text) }
}

/// A value that goes up and down; `replaceAll` swaps every series at once (snapshots read at
/// scrape time, where a series that disappeared must not linger).
public final class Gauge: MetricFamily {
    let samples: Samples

    init(name: String, help: String, labelNames: [String]) {
        samples = Samples(name: name, help: help, type: "gauge", labelNames: labelNames)
    }

    public func set(_ value: Double, _ labels: LabelValues = []) { samples.update(labels) { $0 = value } }

    public func add(_ amount: Double, _ labels: LabelValues = []) { samples.update(labels) { $0 += amount } }

    public func replaceAll(_ series: [LabelValues: Double]) { samples.replaceAll(series) }

    func render(into text: inout String) { samples.render(into: &text) }
}

/// Observations counted into cumulative buckets (`le`), with their sum and count.
public final class Histogram: MetricFamily {
    public let name: String
    let help: String
    let labelNames: [String]
    let buckets: [Double]
    private let series = Mutex<[LabelValues: Series]>([:])

    struct Series {
        var counts: [UInt64]
        var sum = 0.0
        var count: UInt64 = 0
    }

    init(name: String, help: String, labelNames: [String], buckets: [Double]) {
        precondition(!buckets.isEmpty && buckets == buckets.sorted(), "\(name): buckets must be ascending")
        self.name = name
        self.help = help
        self.labelNames = labelNames
        self.buckets = buckets
    }

    public func observe(_ value: Double, _ labels: LabelValues = []) {
        let key = checked(labels, labelNames, name)
        let index = buckets.firstIndex { value <= $0 }
        series.withLock { all in
            var entry = all[key] ?? Series(counts: Array(repeating: 0, count: buckets.count))
            if let index { entry.counts[index] += 1 }
            entry.sum += value
            entry.count += 1
            all[key] = entry
        }
    }

    public func observe(_ duration: Duration, _ labels: LabelValues = []) {
        let (seconds, attoseconds) = duration.components
        observe(Double(seconds) + Double(attoseconds) / 1e18, labels)
    }

    public func count(_ labels: LabelValues = []) -> UInt64 { series.withLock { $0[labels]?.count ?? 0 } }

    func render(into text: inout String) {
        header(name, help, "histogram", into: &text)
        for (labels, entry) in series.withLock({ $0 }).sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            var cumulative: UInt64 = 0
            for (bound, count) in zip(buckets, entry.counts) {
                cumulative += count
                text += "\(name)_bucket\(labelText(labelNames, labels, extra: ("le", number(bound)))) \(cumulative)\n"
            }
            text += "\(name)_bucket\(labelText(labelNames, labels, extra: ("le", "+Inf"))) \(entry.count)\n"
            text += "\(name)_sum\(labelText(labelNames, labels)) \(number(entry.sum))\n"
            text += "\(name)_count\(labelText(labelNames, labels)) \(entry.count)\n"
        }
    }
}
