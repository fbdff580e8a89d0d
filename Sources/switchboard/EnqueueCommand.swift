import ArgumentParser
import Foundation
import Postgres
import SwitchboardCore
import SwitchboardSending
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

    @Flag(help: "Allow a kind this CLI does not know (for workers with custom handlers).")
    var allowUnknownKind = false

    func run() async throws {
        var when: Date?
        if let runAt {
            guard let parsed = ISO8601DateFormatter().date(from: runAt) else {
                throw ValidationError("--run-at '\(runAt)' is not an ISO 8601 time such as 2026-12-01T09:00:00Z")
            }
            when = parsed
        }
        var validated = PostgresJSON(text: payload)
        if !allowUnknownKind || SendJobs.kinds.contains(kind) || kind == "noop" {
            do { validated = try SendJobs.validatedPayload(kind: kind, payload: payload) } catch {
                throw ValidationError(error.description)
            }
        }
        let job = NewJob(
            kind: kind, payload: validated, queue: queue, priority: priority, runAt: when,
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
