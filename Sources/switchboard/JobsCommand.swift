import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardStore

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List, inspect, retry, cancel and purge jobs.",
        discussion: """
            Examples:
              switchboard jobs list --state failed --kind sms
              switchboard jobs show 42
              switchboard jobs retry 42 43          # failed or cancelled jobs run again
              switchboard jobs cancel 44            # available or running jobs stop
              switchboard jobs purge --older-than 30d
            """,
        subcommands: [List.self, Show.self, Retry.self, Cancel.self, Purge.self, Counts.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Only jobs in these states (comma-separated: available, running, completed, failed, cancelled).")
        var state: String?
        @Option(help: "Only jobs of this kind (sms, whatsapp, voice, voice_agent, …).") var kind: String?
        @Option(help: "Only jobs of this queue.") var queue: String?
        @Option(help: "At most this many.") var limit = 50
        @OptionGroup var output: OutputOptions

        func validate() throws {
            _ = try parseStates(state)
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be in 1…10000") }
        }

        func run() async throws {
            let filter = JobStore.JobFilter(states: try parseStates(state), kind: kind, queue: queue, limit: limit)
            let jobs = try await database.withPool { try await JobStore(pool: $0).list(filter) }
            if output.json { return try printJSON(jobs) }
            printTable(
                ["id", "kind", "queue", "state", "attempt", "run at", "created", "last error"],
                jobs.map {
                    [
                        "\($0.id)", $0.kind, $0.queue, $0.state, "\($0.attempt)/\($0.maxAttempts)",
                        RelativeTime.text(for: $0.runAt, now: Date()),
                        RelativeTime.text(for: $0.createdAt, now: Date()), cell($0.lastError),
                    ]
                }, emptyMessage: "no jobs match")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one job with its error history.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Job id.") var id: Int64
        @OptionGroup var output: OutputOptions

        func run() async throws {
            guard let job = try await database.withPool({ try await JobStore(pool: $0).job(id: id) }) else {
                throw ValidationError("no job with id \(id) (see `switchboard jobs list`)")
            }
            if output.json {
                var object: [String: JSONValue] = [
                    "id": .int(job.id), "kind": .string(job.kind), "queue": .string(job.queue),
                    "state": .string(job.state.rawValue), "attempt": .int(Int64(job.attempt)),
                    "maxAttempts": .int(Int64(job.maxAttempts)), "outcomeUnknown": .bool(job.outcomeUnknown),
                    "runAt": .string(ISO8601DateFormatter().string(from: job.runAt)),
                    "createdAt": .string(ISO8601DateFormatter().string(from: job.createdAt)),
                    "payload": (try? job.payload.decode(JSONValue.self)) ?? .null,
                    "result": (try? job.result?.decode(JSONValue.self)) ?? .null,
                    "errors": .array(
                        job.errors.map {
                            .object([
                                "attempt": .int(Int64($0.attempt)), "at": .string($0.at), "error": .string($0.error),
                                "kind": .string($0.kind),
                            ])
                        }),
                ]
                if let finished = job.finishedAt {
                    object["finishedAt"] = .string(ISO8601DateFormatter().string(from: finished))
                }
                return print(JSONValue.object(object).jsonText)
            }
            printFields([
                ("id", "\(job.id)"), ("kind", job.kind), ("queue", job.queue), ("state", job.state.rawValue),
                ("priority", "\(job.priority)"), ("attempt", "\(job.attempt) of \(job.maxAttempts)"),
                ("run at", "\(job.runAt)"), ("created", "\(job.createdAt)"),
                ("finished", job.finishedAt.map { "\($0)" } ?? "-"), ("locked by", job.lockedBy ?? "-"),
                ("idempotency key", job.idempotencyKey ?? "-"),
                ("outcome unknown", job.outcomeUnknown ? "yes (a previous attempt was interrupted)" : "no"),
                ("payload", job.payload.text), ("result", job.result?.text ?? "-"),
            ])
            for error in job.errors {
                print("error            attempt \(error.attempt) at \(error.at) [\(error.kind)]: \(error.error)")
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run failed or cancelled jobs again now (one more attempt if they used them all).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Job ids.") var ids: [Int64]

        func validate() throws {
            guard !ids.isEmpty else { throw ValidationError("give job ids, e.g. `switchboard jobs retry 42 43`") }
        }

        func run() async throws {
            let retried = try await database.withPool { try await JobStore(pool: $0).retry(ids: ids) }
            report(done: retried, of: ids, verb: "retried", otherwise: "not failed or cancelled (or no such job)")
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop available or running jobs (a running attempt already at Twilio still goes out).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Job ids.") var ids: [Int64]

        func validate() throws {
            guard !ids.isEmpty else { throw ValidationError("give job ids, e.g. `switchboard jobs cancel 44`") }
        }

        func run() async throws {
            let cancelled = try await database.withPool { try await JobStore(pool: $0).cancel(ids: ids) }
            report(done: cancelled, of: ids, verb: "cancelled", otherwise: "already finished (or no such job)")
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete finished jobs older than a given age (workers also prune after --retention).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Finished states to delete (comma-separated).") var state = "completed,failed,cancelled"
        @Option(help: "Only jobs finished longer ago than this (e.g. 30d, 12h).") var olderThan: String

        func validate() throws {
            let states = try parseStates(state)
            guard states.allSatisfy(\.isFinished) else {
                throw ValidationError("--state: only finished jobs can be purged (completed, failed, cancelled)")
            }
            _ = try parseDuration(olderThan, flag: "--older-than")
        }

        func run() async throws {
            let age = try parseDuration(olderThan, flag: "--older-than")
            let deleted = try await database.withPool {
                try await JobStore(pool: $0).purge(states: try parseStates(state), olderThan: age) { total in
                    FileHandle.standardError.write(Data("\rdeleted \(total) jobs…".utf8))
                }
            }
            if deleted >= 5000 { FileHandle.standardError.write(Data("\n".utf8)) }
            print("deleted \(deleted) job(s)")
        }
    }

    struct Counts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Count jobs per state.",
            discussion: """
                Unfinished states are counted exactly up to 100,000 jobs each and estimated past that (~N). Finished \
                states add the jobs moved to history within the retention, from the archiver's counts.
                """)
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let (counts, approximate) = try await database.withPool { try await JobStore(pool: $0).stateCounts() }
            printTable(
                ["state", "jobs"],
                JobState.allCases.map { [$0.rawValue, (approximate.contains($0) ? "~" : "") + "\(counts[$0] ?? 0)"] })
        }
    }
}

/// `available,failed` → states; a usage error names the bad one.
func parseStates(_ text: String?) throws -> [JobState] {
    guard let text else { return [] }
    return try text.split(separator: ",").map { name in
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard let state = JobState(rawValue: trimmed) else {
            throw ValidationError(
                "--state: '\(trimmed)' is not one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return state
    }
}

/// "retried 2 job(s): 42, 43" plus the ones that were not, so a script can tell.
private func report(done: [Int64], of requested: [Int64], verb: String, otherwise: String) {
    print("\(verb) \(done.count) job(s)" + (done.isEmpty ? "" : ": " + done.map(String.init).joined(separator: ", ")))
    let skipped = requested.filter { !done.contains($0) }
    if !skipped.isEmpty { print("skipped \(skipped.map(String.init).joined(separator: ", ")): \(otherwise)") }
}
