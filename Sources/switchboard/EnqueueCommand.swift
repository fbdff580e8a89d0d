import ArgumentParser
import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore

struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Add one job to the queue and print its id.",
        discussion: """
            Examples:
              switchboard enqueue noop
              switchboard enqueue noop --payload '{"sleep_ms": 100}' --priority 10 --key order-42
              switchboard enqueue noop --run-at 2026-12-01T09:00:00Z
            From SQL, in your own transaction: SELECT * FROM switchboard.enqueue('noop', '{}');
            """)

    @OptionGroup var database: DatabaseOptions

    @Argument(help: "Job kind, e.g. noop.")
    var kind: String

    @Option(help: "Payload: a JSON object.")
    var payload: String = "{}"

    @Option(help: "Queue name.")
    var queue: String = JobSpec.defaultQueue

    @Option(help: "Priority 0…1000; smaller runs first.")
    var priority: Int = JobSpec.defaultPriority

    @Option(help: "Run not before this time (ISO 8601, e.g. 2026-12-01T09:00:00Z).")
    var runAt: String?

    @Option(help: "Attempts before the job fails for good.")
    var maxAttempts: Int = JobSpec.defaultMaxAttempts

    @Option(
        name: .customLong("key"),
        help: "Idempotency key: while a job with this key is live, enqueueing again returns it.")
    var idempotencyKey: String?

    @Flag(help: "Print the answer as JSON.")
    var json = false

    func run() async throws {
        var when: Date?
        if let runAt {
            guard let parsed = ISO8601DateFormatter().date(from: runAt) else {
                throw ValidationError("--run-at '\(runAt)' is not an ISO 8601 time such as 2026-12-01T09:00:00Z")
            }
            when = parsed
        }
        let job = NewJob(
            kind: kind, payload: PostgresJSON(text: payload), queue: queue, priority: priority, runAt: when,
            maxAttempts: maxAttempts, idempotencyKey: idempotencyKey)
        do { try job.validate() } catch { throw ValidationError(error.description) }
        let enqueued = try await database.withPool { try await JobStore(pool: $0).enqueue(job) }
        if json {
            print(#"{"id": \#(enqueued.id), "existing": \#(enqueued.existing)}"#)
        } else {
            print(
                enqueued.existing
                    ? "job \(enqueued.id) already exists with key \(idempotencyKey ?? "")"
                    : "enqueued job \(enqueued.id)")
        }
    }
}
