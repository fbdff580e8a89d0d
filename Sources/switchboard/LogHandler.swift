import Foundation
import Logging
import SwitchboardCore

/// How the processes log: `human` (one readable line per event, like swift-log's stream handler)
/// or `json` (one object per line for log shippers). Above debug level, phone numbers in messages
/// and metadata are masked (`LogRedaction`); secrets are never passed to a logger at all.
struct SwitchboardLogHandler: LogHandler {
    enum Format: String, CaseIterable {
        case human, json
    }

    let label: String
    let format: Format
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let level = event.level
        let message = event.message
        let source = event.source
        var explicit = event.metadata
        if let error = event.error { explicit = (explicit ?? [:]).merging(["error": "\(error)"]) { own, _ in own } }
        let redact = level > .debug
        func clean(_ text: String) -> String { redact ? LogRedaction.maskingPhoneNumbers(text) : text }
        func clean(_ value: Logger.MetadataValue, key: String) -> String {
            redact ? LogRedaction.masking("\(value)", key: key) : "\(value)"
        }
        var merged = metadata
        if let explicit { merged.merge(explicit) { _, new in new } }
        let timestamp = Self.timestamp()
        let text: String
        switch format {
        case .human:
            let pairs = merged.keys.sorted().map { "\($0)=\(clean(merged[$0]!, key: $0))" }.joined(separator: " ")
            text =
                "\(timestamp) \(level) \(label): \(pairs.isEmpty ? "" : pairs + " ")[\(source)] \(clean("\(message)"))\n"
        case .json:
            var object: [String: JSONValue] = [:]
            for (key, value) in merged { object[key] = .string(clean(value, key: key)) }
            object["time"] = .string(timestamp)
            object["level"] = .string(level.rawValue)
            object["logger"] = .string(label)
            object["source"] = .string(source)
            object["message"] = .string(clean("\(message)"))
            text = JSONValue.object(object).jsonText + "\n"
        }
        FileHandle.standardError.write(Data(text.utf8))
    }

    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(now.tv_nsec / 1_000_000))
    }
}
