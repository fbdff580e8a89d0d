import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardEvents
import SwitchboardStore

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract:
            "Event webhooks: your systems get a signed POST when messages, calls, replies, opt-outs and campaigns change.",
        discussion: """
            Each event is written in the same transaction as its cause and delivered by the workers, at least once
            (deduplicate by the webhook-id header), in order per subject, retried for about three days. Signing
            secrets are sealed with SWITCHBOARD_MASTER_KEY and never printed: they go to the file you name.
            Examples:
              switchboard events types
              switchboard events subscribe --url https://crm.example.com/hooks/switchboard \\
                  --events message.delivered,message.failed,reply.received --secret-file ./crm-webhook.secret
              switchboard events list
              switchboard events deliveries --subscription 1 --state failed
              switchboard events attempts 42
              switchboard events redeliver --subscription 1
              switchboard events rotate-secret 1 --secret-file ./crm-webhook-2.secret --overlap 24h
              switchboard events pause 1 && switchboard events resume 1
            """,
        subcommands: [
            Types.self, Subscribe.self, List.self, Update.self, Pause.self, Resume.self, Delete.self,
            RotateSecret.self, Deliveries.self, Attempts.self, Redeliver.self,
        ])

    struct Types: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The event types a subscription can ask for.")

        func run() {
            printTable(["type", "when"], EventType.allCases.map { [$0.rawValue, $0.summary] })
        }
    }

    struct Subscribe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deliver events to a URL; the signing secret goes to --secret-file.",
            discussion: """
                If --secret-file names an existing file, the secret in it (whsec_…) is used; otherwise a new one is
                made and written there (mode 0600). Give it to your receiver: README, "Event webhooks".
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Where to POST events (http or https).") var url: String
        @Option(help: "Comma-separated event types, or * for all (see `switchboard events types`).") var events: String
        @Option(help: "Only this account's events (default: every account's).") var account: String?
        @Option(help: "A note for people (at most 200 characters).") var description = ""
        @Option(help: "The signing secret's file: read if it exists, else written with a new secret.")
        var secretFile: String

        func run() async throws {
            let vault = try masterKey()
            let (id, types, made) = try await asUsageErrors {
                let types = try EventType.parseList(events)
                try EventStore.check(url: url, description: description)
                let (secret, made) = try SecretFile.secret(at: secretFile)
                do {
                    let id = try await database.withPool { pool in
                        try await EventStore(pool: pool, vault: vault).subscribe(
                            url: url, eventTypes: types, account: account, description: description,
                            secret: secret.text)
                    }
                    return (id, types, made)
                } catch {
                    // Nothing half-made: a secret for a subscription that does not exist is removed.
                    if made { try? FileManager.default.removeItem(atPath: secretFile) }
                    throw error
                }
            }
            print(
                "subscription \(id) delivers \(types.joined(separator: ", ")) to \(url); signing secret "
                    + (made ? "written to \(secretFile)" : "read from \(secretFile)"))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Subscriptions and how their deliveries stand.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let subscriptions = try await database.withPool {
                try await EventStore(pool: $0, vault: nil).subscriptions()
            }
            if output.json { return try printJSON(subscriptions) }
            printTable(
                ["id", "state", "url", "events", "account", "waiting", "failed", "note"],
                subscriptions.map {
                    [
                        "\($0.id)", $0.state.rawValue, cell($0.url), cell($0.eventTypes.joined(separator: ",")),
                        $0.account ?? "all", "\($0.pending)", "\($0.failed)",
                        cell(
                            $0.pausedReason
                                ?? $0.failingSince.map { "failing since \($0.formatted(.iso8601))" }
                                ?? $0.description),
                    ]
                }, emptyMessage: "no event subscriptions (add one with `switchboard events subscribe`)")
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a subscription's URL, event types or note; waiting deliveries go to the new URL.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Subscription id.") var id: Int64
        @Option(help: "New URL.") var url: String?
        @Option(help: "New comma-separated event types, or *.") var events: String?
        @Option(help: "New note.") var description: String?

        func validate() throws {
            guard url != nil || events != nil || description != nil else {
                throw ValidationError("give at least one of --url, --events, --description")
            }
        }

        func run() async throws {
            let found = try await asUsageErrors {
                try await database.withPool {
                    try await EventStore(pool: $0, vault: nil).update(
                        id: id, url: url, eventTypes: events.map { [$0] }, description: description)
                }
            }
            guard found else { throw CommandFailure("no event subscription \(id) (see `switchboard events list`)") }
            print("subscription \(id) updated")
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop delivering; events are kept and sent on `resume`.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Subscription id.") var id: Int64

        func run() async throws {
            let found = try await database.withPool { try await EventStore(pool: $0, vault: nil).pause(id: id) }
            guard found else { throw CommandFailure("no event subscription \(id) (see `switchboard events list`)") }
            print("subscription \(id) paused; its events wait for `switchboard events resume \(id)`")
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deliver again, starting with every event that waited (oldest first).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Subscription id.") var id: Int64

        func run() async throws {
            guard
                let queued = try await database.withPool({ try await EventStore(pool: $0, vault: nil).resume(id: id) })
            else { throw CommandFailure("no event subscription \(id) (see `switchboard events list`)") }
            print("subscription \(id) active; \(queued) waiting deliveries queued")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a subscription and the deliveries it has not made.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Subscription id.") var id: Int64

        func run() async throws {
            let found = try await database.withPool { try await EventStore(pool: $0, vault: nil).delete(id: id) }
            guard found else { throw CommandFailure("no event subscription \(id) (see `switchboard events list`)") }
            print("subscription \(id) deleted")
        }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-secret",
            abstract: "Sign with a new secret; the old one also signs during --overlap so receivers can switch.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Subscription id.") var id: Int64
        @Option(help: "The new secret's file: read if it exists, else written with a new secret.")
        var secretFile: String
        @Option(help: "How long the old secret keeps signing beside the new one (default: 24h).") var overlap = "24h"

        func run() async throws {
            let vault = try masterKey()
            let (overlap, secret, made) = try await asUsageErrors {
                let overlap = try DurationParsing.parse(self.overlap, field: "overlap")
                let (secret, made) = try SecretFile.secret(at: secretFile)
                return (overlap, secret, made)
            }
            let found = try await database.withPool {
                try await EventStore(pool: $0, vault: vault).rotateSecret(
                    id: id, secret: secret.text, overlap: overlap)
            }
            guard found else {
                if made { try? FileManager.default.removeItem(atPath: secretFile) }
                throw CommandFailure("no event subscription \(id) (see `switchboard events list`)")
            }
            print(
                "subscription \(id) signs with the secret "
                    + (made ? "written to \(secretFile)" : "read from \(secretFile)")
                    + "; the previous one also signs for \(self.overlap)")
        }
    }

    struct Deliveries: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The latest deliveries, newest first.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Only this subscription's.") var subscription: Int64?
        @Option(help: "Only pending, delivered or failed ones.") var state: EventDeliveryRecord.State?
        @Option(help: "At most this many.") var limit = 50
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let deliveries = try await database.withPool {
                try await EventStore(pool: $0, vault: nil).deliveries(
                    subscriptionID: subscription, state: state, limit: limit)
            }
            if output.json { return try printJSON(deliveries) }
            printTable(
                ["id", "sub", "event", "type", "subject", "state", "tries", "last", "next"],
                deliveries.map {
                    [
                        "\($0.id)", "\($0.subscriptionID)", $0.eventID, $0.type, cell($0.subject, limit: 40),
                        $0.state.rawValue, "\($0.attempts)",
                        $0.lastStatusCode.map { "HTTP \($0)" } ?? cell($0.lastError, limit: 30),
                        $0.nextAttemptAt?.formatted(.iso8601) ?? "-",
                    ]
                }, emptyMessage: "no deliveries")
        }
    }

    struct Attempts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every attempt of one delivery.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Delivery id (see `switchboard events deliveries`).") var delivery: Int64
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let attempts = try await database.withPool {
                try await EventStore(pool: $0, vault: nil).attempts(deliveryID: delivery)
            }
            if output.json { return try printJSON(attempts) }
            printTable(
                ["attempt", "at", "status", "ms", "error", "answer"],
                attempts.map {
                    [
                        "\($0.attempt)", $0.at.formatted(.iso8601), $0.statusCode.map(String.init) ?? "-",
                        "\($0.latencyMs)", cell($0.error, limit: 40), cell($0.response, limit: 40),
                    ]
                }, emptyMessage: "no attempts of delivery \(delivery) yet")
        }
    }

    struct Redeliver: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send failed deliveries again, with a fresh retry schedule.")
        @OptionGroup var database: DatabaseOptions
        @Option(name: .customLong("delivery"), help: "A failed delivery's id (repeatable).") var deliveries: [Int64] =
            []
        @Option(help: "Every failed delivery of this subscription.") var subscription: Int64?

        func validate() throws {
            guard deliveries.isEmpty != (subscription == nil) else {
                throw ValidationError("give --delivery ID (one or more) or --subscription ID")
            }
        }

        func run() async throws {
            let queued = try await database.withPool {
                try await EventStore(pool: $0, vault: nil).redeliver(
                    deliveryIDs: deliveries.isEmpty ? nil : deliveries, subscriptionID: subscription)
            }
            print("\(queued) failed deliveries queued again")
        }
    }
}

extension EventDeliveryRecord.State: ExpressibleByArgument {}

/// Bad input found past parsing (by the core or the store) as a usage error naming the flag:
/// `--url: must be an http(s) URL…`, exit status 64.
func asUsageErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as InputError {
        throw ValidationError("--\(error.field): \(error.problem)")
    }
}

/// A signing secret kept in a file the user names: read when the file exists, else made and
/// written there readable by its owner only. Secrets never pass through flags or output.
enum SecretFile {
    static func secret(at path: String) throws -> (secret: WebhookSecret, made: Bool) {
        if FileManager.default.fileExists(atPath: path) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw CommandFailure("--secret-file: cannot read \(path)")
            }
            let secret = try WebhookSecret(
                parsing: text.trimmingCharacters(in: .whitespacesAndNewlines), field: "secret-file")
            return (secret, false)
        }
        let secret = WebhookSecret()
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw CommandFailure("--secret-file: cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let line = Array((secret.text + "\n").utf8)
        guard write(descriptor, line, line.count) == line.count else {
            throw CommandFailure("--secret-file: cannot write \(path)")
        }
        return (secret, true)
    }
}
