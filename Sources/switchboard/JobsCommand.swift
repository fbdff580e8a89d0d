import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardStore

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "Inspect jobs.",
        subcommands: [Show.self, Counts.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one job with its error history.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Job id.") var id: Int64

        func run() async throws {
            guard let job = try await database.withPool({ try await JobStore(pool: $0).job(id: id) }) else {
                throw CommandFailure("no job with id \(id)")
            }
            let rows: [(String, String)] = [
                ("id", "\(job.id)"), ("kind", job.kind), ("queue", job.queue), ("state", job.state.rawValue),
                ("priority", "\(job.priority)"), ("attempt", "\(job.attempt) of \(job.maxAttempts)"),
                ("run at", "\(job.runAt)"), ("created", "\(job.createdAt)"),
                ("finished", job.finishedAt.map { "\($0)" } ?? "-"), ("locked by", job.lockedBy ?? "-"),
                ("idempotency key", job.idempotencyKey ?? "-"),
                ("outcome unknown", job.outcomeUnknown ? "yes (a previous attempt was interrupted)" : "no"),
                ("payload", job.payload.text), ("result", job.result?.text ?? "-"),
            ]
            for (name, value) in rows { print(name.padding(toLength: 17, withPad: " ", startingAt: 0) + value) }
            for error in job.errors {
                print("error            attempt \(error.attempt) at \(error.at) [\(error.kind)]: \(error.error)")
            }
        }
    }

    struct Counts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Count jobs per state.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let counts = try await database.withPool { try await JobStore(pool: $0).countByState() }
            for state in JobState.allCases {
                print(state.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) + "\(counts[state] ?? 0)")
            }
        }
    }
}
