/// Bad input, naming the field: `to: '+1555' is not a valid E.164 number: too short`. Every entry
/// point (SQL payloads, CLI, webhooks, CSV, configuration) refuses with one of these, at the
/// earliest point, before anything is written.
public struct InputError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var problem: String
    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }
    public var description: String { "\(field): \(problem)" }
}
