import ArgumentParser
import Configuration
import Foundation
import SwitchboardCore
import Synchronization

/// Every setting a command reads, through one swift-configuration `ConfigReader`: the command
/// line first, then the environment (`--grace-period` is `SWITCHBOARD_GRACE_PERIOD`), then the
/// default in code. Secrets come from the environment only (flags show up in process lists) and
/// are marked as secrets in the reader. `switchboard config` reads through the same functions as
/// the processes, so it cannot disagree with them.
///
/// A bad value is a usage error naming where it came from (`--lease: …` or `SWITCHBOARD_LEASE: …`).
/// A collecting reader (`switchboard config`) records every problem instead and goes on with the
/// default, so one run reports them all.
final class Settings: Sendable {
    /// The variables whose values are secret.
    static let secretVariables: Set<String> = [
        "DATABASE_URL", "SWITCHBOARD_DATABASE_URL", "SWITCHBOARD_MASTER_KEY", "SWITCHBOARD_DASHBOARD_TOKEN",
        "OPENAI_API_KEY",
    ]

    struct Problem: Sendable, Equatable {
        /// The flag or variable the value came from.
        var source: String
        var message: String
    }

    /// A value that was set, and where.
    struct Found: Sendable {
        var value: String
        var source: String
    }

    private let reader: ConfigReader
    private let given: Set<String>
    private let collecting: Bool
    private let problemList = Mutex<[Problem]>([])

    /// `flags`: the command line's values by flag name (`"grace-period"`), nil where not given.
    init(
        flags: [String: String?] = [:], environment: [String: String] = ProcessInfo.processInfo.environment,
        collectingProblems: Bool = false, reporter: (any AccessReporter)? = nil
    ) {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for case let (name, value?) in flags {
            values[Self.key(name)] = ConfigValue(.string(value), isSecret: false)
        }
        given = Set(flags.compactMap { $0.value == nil ? nil : $0.key })
        reader = ConfigReader(
            providers: [
                InMemoryProvider(name: "flags", values: values),
                EnvironmentVariablesProvider(
                    environmentVariables: environment, secretsSpecifier: .specific(Self.secretVariables)),
            ],
            accessReporter: reporter)
        collecting = collectingProblems
    }

    /// The problems a collecting reader found, in reading order.
    var problems: [Problem] { problemList.withLock { $0 } }

    /// The key of a setting: `switchboard.<name>`, or `<name>` alone for a variable without the
    /// prefix (`DATABASE_URL`, `OPENAI_API_KEY`).
    static func key(_ name: String, prefixed: Bool = true) -> AbsoluteConfigKey {
        AbsoluteConfigKey(prefixed ? ["switchboard", name] : [name])
    }

    /// The environment variable of a setting, as the environment provider spells the key.
    static func variable(_ name: String, prefixed: Bool = true) -> String {
        ((prefixed ? "SWITCHBOARD_" : "") + name).uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// The setting's value if it is set and not empty.
    func text(_ name: String, prefixed: Bool = true, secret: Bool = false) -> Found? {
        guard
            let value = reader.string(
                forKey: ConfigKey(Self.key(name, prefixed: prefixed).components), isSecret: secret),
            !value.isEmpty
        else { return nil }
        let source = prefixed && given.contains(name) ? "--\(name)" : Self.variable(name, prefixed: prefixed)
        return Found(value: value, source: source)
    }

    /// The setting's value as given, an empty one included (where '' means "none").
    func raw(_ name: String) -> String? {
        reader.string(forKey: ConfigKey(Self.key(name).components))
    }

    /// Reports a problem with a value: thrown as a usage error, or recorded when collecting.
    func problem(_ source: String, _ message: String) throws {
        let problem = Problem(source: source, message: message)
        guard collecting else { throw ValidationError("\(source): \(message)") }
        problemList.withLock { $0.append(problem) }
    }

    /// The value converted by `convert`; its error (an `InputError` or any other) names the source.
    /// When it fails while collecting, `fallback`.
    func converted<T>(_ found: Found, fallback: T, _ convert: (String) throws -> T) throws -> T {
        do { return try convert(found.value) } catch let error as InputError {
            try problem(found.source, error.problem)
        } catch let error as ValidationError {
            try problem(found.source, error.message)
        } catch {
            // Other errors (the vault's) name their source themselves.
            let message = "\(error)"
            let prefix = found.source + ": "
            try problem(found.source, message.hasPrefix(prefix) ? String(message.dropFirst(prefix.count)) : message)
        }
        return fallback
    }

    func string(_ name: String, default defaultValue: String) -> String {
        text(name)?.value ?? defaultValue
    }

    func duration(_ name: String, default defaultValue: Duration) throws -> Duration {
        guard let found = text(name) else { return defaultValue }
        return try converted(found, fallback: defaultValue) { try DurationParsing.parse($0, field: found.source) }
    }

    /// A duration, or `off` for none.
    func durationOrOff(_ name: String, default defaultValue: Duration?) throws -> Duration? {
        guard let found = text(name) else { return defaultValue }
        if found.value == "off" { return nil }
        return try converted(found, fallback: defaultValue) { try DurationParsing.parse($0, field: found.source) }
    }

    func int(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>? = nil) throws -> Int {
        guard let found = text(name) else { return defaultValue }
        return try converted(found, fallback: defaultValue) { text in
            guard let value = Int(text) else {
                throw InputError(field: found.source, problem: "'\(text)' is not a whole number")
            }
            if let range, !range.contains(value) {
                throw InputError(
                    field: found.source, problem: "\(value) must be in \(range.lowerBound)…\(range.upperBound)")
            }
            return value
        }
    }

    func optionalInt(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard text(name) != nil else { return nil }
        return try int(name, default: range.lowerBound, in: range)
    }

    func bool(_ name: String, default defaultValue: Bool) throws -> Bool {
        guard let found = text(name) else { return defaultValue }
        return try converted(found, fallback: defaultValue) { text in
            switch text.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: throw InputError(field: found.source, problem: "'\(text)' is not true or false")
            }
        }
    }

    /// One of `allowed`.
    func choice(_ name: String, default defaultValue: String, allowed: [String]) throws -> String {
        guard let found = text(name) else { return defaultValue }
        return try converted(found, fallback: defaultValue) { text in
            guard allowed.contains(text) else {
                throw InputError(
                    field: found.source, problem: "'\(text)' is not one of \(allowed.joined(separator: ", "))")
            }
            return text
        }
    }

    /// An http(s) base URL (`allowQuery` for API bases such as Azure OpenAI's `?api-version=`; a
    /// public URL, which signatures cover, takes none).
    func baseURL(_ name: String, prefixed: Bool = true, default defaultValue: String?, allowQuery: Bool) throws
        -> String?
    {
        guard let found = text(name, prefixed: prefixed) else { return defaultValue }
        return try converted(found, fallback: defaultValue) { text in
            guard HTTPURL.isValidBase(text, allowQuery: allowQuery) else {
                throw InputError(
                    field: found.source,
                    problem: "'\(text)' is not an http(s) URL" + (allowQuery ? "" : " without a query"))
            }
            return text
        }
    }
}
