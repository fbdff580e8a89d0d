import ArgumentParser
import Foundation
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore

struct CampaignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign",
        abstract: "High-volume sends: one template, many recipients imported from CSV.",
        discussion: """
            Example:
              switchboard campaign create --account main --name spring --pool marketing \\
                  --body 'Hi {{name}}, 20% off this week with code {{code}}. Reply STOP to opt out.' --send-window 09:00-20:00
              switchboard campaign import --account main --name spring --file recipients.csv   # header: phone,name,code
              switchboard campaign pause --account main --name spring
              switchboard campaign status --account main --name spring
            """,
        subcommands: [Create.self, Import.self, Pause.self, Resume.self, Cancel.self, Status.self, Report.self])

    struct Target: ParsableArguments {
        @Option(help: "Account name.") var account: String
        @Option(help: "Campaign name.") var name: String

        func campaign(_ pool: PostgresPool) async throws -> CampaignRecord {
            let accountID = try await accountID(named: account, pool: pool)
            guard let campaign = try await CampaignStore(pool: pool).campaign(accountID: accountID, name: name) else {
                throw ValidationError("--name: account '\(account)' has no campaign '\(name)'")
            }
            return campaign
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a campaign (its template is checked now).")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var target: Target
        @Option(help: "sms or whatsapp.") var channel = "sms"
        @Option(help: "Message template; CSV columns are its variables.") var body: String
        @Option(help: "Sender number.") var from: String?
        @Option(help: "Number pool.") var pool: String?
        @Option(help: "Send window in the recipient's local time, e.g. 09:00-20:00.") var sendWindow: String?
        @Option(help: "Time zone for recipients whose number does not tell it.") var timezone: String?
        @Option(help: "Campaign-wide cap in messages per second, across all its senders.") var rateCap: Double?
        @Option(
            help: """
                Where tracked links ({{link "https://…"}}) point: the webhook's public URL or a domain forwarding /l/ to \
                it (default: $SWITCHBOARD_PUBLIC_URL).
                """)
        var linkBaseURL: String?
        @Flag(help: "Replace every http(s) URL in the body with a tracked link.") var shortenUrls = false
        @Option(
            help: "Tracked links stop working this long after the import (default: as long as the campaign exists).")
        var linksExpireAfter: String?

        func run() async throws {
            guard let channel = MessageSpec.Channel(rawValue: channel) else {
                throw ValidationError("--channel must be sms or whatsapp")
            }
            let body = shortenUrls ? Template.shorteningURLs(in: self.body) : self.body
            var template: [String: JSONValue] = ["account": .string(target.account), "body": .string(body)]
            if let from { template["from"] = .string(from) }
            if let pool { template["pool"] = .string(pool) }
            if let sendWindow { template["sendWindow"] = .string(sendWindow) }
            if let timezone { template["timezone"] = .string(timezone) }
            // Check the template against a sample recipient: syntax, sender and window errors surface now.
            do {
                var sample = template
                sample["to"] = .string("+12125550100")
                sample["timezone"] = template["timezone"] ?? .string("UTC")
                _ = try Template(body, field: "body")
                var request = try JSONDecoder().decode(
                    MessageRequest.self, from: Data(JSONValue.object(sample).jsonText.utf8))
                request.body = .single("check")
                _ = try SendJobs.withQuietHours(try request.resolve(channel: channel))
            } catch let error as InputError {
                throw ValidationError(error.description)
            }
            let links: [String]
            do {
                links = try Template(body, field: "body").linkURLs()
            } catch {
                throw ValidationError("\(error)")
            }
            let base =
                (links.isEmpty
                ? nil
                : linkBaseURL
                    ?? ProcessInfo.processInfo.environment["SWITCHBOARD_PUBLIC_URL"].flatMap { $0.isEmpty ? nil : $0 })
                .map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
            if !links.isEmpty, base == nil {
                throw ValidationError(
                    "--link-base-url: the body has tracked links; say where they point (or set SWITCHBOARD_PUBLIC_URL)")
            }
            var expiry: Duration?
            if let linksExpireAfter {
                do {
                    expiry = try DurationParsing.parse(linksExpireAfter, field: "--links-expire-after")
                } catch {
                    throw ValidationError("\(error)")
                }
            }
            let id = try await database.withPool { pool in
                do {
                    return try await CampaignStore(pool: pool).create(
                        accountID: try await accountID(named: target.account, pool: pool), name: target.name,
                        channel: channel,
                        template: PostgresJSON(text: JSONValue.object(template).jsonText), rateCap: rateCap,
                        linkBaseURL: base, linksExpireAfter: expiry)
                } catch let error as InputError {
                    throw ValidationError(error.description)
                }
            }
            print(
                "campaign '\(target.name)' created (id \(id))"
                    + (links.isEmpty ? "" : "; \(links.count) tracked link(s) pointing at \(base ?? "")/l/…"))
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import recipients from CSV (streamed; progress on stderr).")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var target: Target
        @Option(help: "CSV file with a header row; the 'phone' column is the recipient.") var file: String

        func run() async throws {
            let report = try await database.withPool { pool in
                let campaign = try await target.campaign(pool)
                do {
                    return try await CampaignImport(campaigns: CampaignStore(pool: pool)).run(
                        path: file, campaign: campaign
                    ) { rows in
                        FileHandle.standardError.write(Data("\rimported \(rows) rows…".utf8))
                    }
                } catch let error as InputError {
                    throw ValidationError(error.description)
                }
            }
            FileHandle.standardError.write(Data("\n".utf8))
            print(
                "rows \(report.rows): queued \(report.counts.queued), duplicates \(report.counts.duplicates), "
                    + "opted out \(report.counts.optedOut), invalid \(report.invalidCount)")
            for line in report.invalid { print("  \(line)") }
            if report.invalidCount > report.invalid.count {
                print("  … and \(report.invalidCount - report.invalid.count) more")
            }
            // Rows were given and not one could be queued: a wrong file or a wrong template, not a
            // success for a script to carry on after.
            if report.invalidCount > 0 && report.invalidCount == report.rows {
                FileHandle.standardError.write(Data("error: no row of \(file) is valid; nothing was queued\n".utf8))
                throw ExitCode.failure
            }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hold every message not yet sent (takes effect within a second).")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var target: Target
        func run() async throws {
            try await database.withPool { pool in
                try await CampaignStore(pool: pool).setState(id: try await target.campaign(pool).id, .paused)
            }
            print("campaign '\(target.name)' paused")
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Continue a paused campaign.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var target: Target
        func run() async throws {
            try await database.withPool { pool in
                try await CampaignStore(pool: pool).setState(id: try await target.campaign(pool).id, .active)
            }
            print("campaign '\(target.name)' resumed")
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel every message not yet sent.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var target: Target
        func run() async throws {
            let count = try await database.withPool { pool in
                try await CampaignStore(pool: pool).cancel(id: try await target.campaign(pool).id)
            }
            print("campaign '\(target.name)' cancelled (\(count) queued messages)")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Counts per job state and delivery status.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var target: Target
        @Flag(help: "Print as JSON.") var json = false
        func run() async throws {
            let (campaign, status, progress) = try await database.withPool { pool in
                let campaign = try await target.campaign(pool)
                let store = CampaignStore(pool: pool)
                return (campaign, try await store.status(id: campaign.id), try await store.progress(id: campaign.id))
            }
            let live = ["scheduled", "available", "running"].reduce(0) { $0 + (status.jobs[$1] ?? 0) }
            // Still to send: not yet fed, and fed but not sent; at the campaign's pace.
            let toSend = campaign.state == .cancelled ? 0 : (progress?.pending ?? 0) + live
            let eta = progress?.pace.flatMap { $0 > 0 && toSend > 0 ? Double(toSend) / $0 : nil }
            if json {
                var value: [String: JSONValue] = [
                    "campaign": .string(campaign.name), "state": .string(campaign.state.rawValue),
                    "jobs": .object(status.jobs.mapValues { .int(Int64($0)) }),
                    "deliveries": .object(status.deliveries.mapValues { .int(Int64($0)) }),
                    "optedOut": .int(Int64(status.optedOut)),
                    "recipients": .int(Int64(progress?.recipients ?? 0)), "fed": .int(Int64(progress?.fed ?? 0)),
                    "pending": .int(Int64(progress?.pending ?? 0)), "toSend": .int(Int64(toSend)),
                ]
                if let pace = progress?.pace { value["pace"] = .double(pace) }
                if let eta { value["etaSeconds"] = .double(eta.rounded()) }
                if let finished = progress?.finishedAt {
                    value["finishedAt"] = .string(ISO8601DateFormatter().string(from: finished))
                }
                print(JSONValue.object(value).jsonText)
                return
            }
            print("campaign \(campaign.name): \(campaign.state)")
            if let progress {
                let pace = progress.pace.map { String(format: " at %.4g/s", $0) } ?? ""
                let end =
                    progress.finishedAt != nil
                    ? "finished"
                    : eta.map { "done " + RelativeTime.text(for: Date(timeIntervalSinceNow: $0), now: Date()) } ?? "—"
                print(
                    "  recipients: \(progress.recipients), fed into the queue \(progress.fed), waiting to be fed "
                        + "\(progress.pending)\(pace); \(end)")
            }
            print(
                "  jobs: "
                    + status.jobs.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            print(
                "  messages: "
                    + status.deliveries.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(
                        separator: ", "))
            print("  skipped as opted out: \(status.optedOut)")
        }
    }
}
