import ArgumentParser
import Foundation

struct Switchboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract:
            "Send SMS, WhatsApp and voice calls through Twilio at scale, with PostgreSQL as the only infrastructure.",
        discussion: """
            Examples:
              switchboard demo                       # everything on a throwaway PostgreSQL
              export DATABASE_URL=postgres://app@db:5432/switchboard
              switchboard migrate                    # create or upgrade the schema
              switchboard worker --concurrency 50    # run jobs until SIGTERM
              switchboard webhook --port 8080        # Twilio's callbacks (SWITCHBOARD_PUBLIC_URL)
              switchboard send sms --account main --from +15557654321 --to +15559876543 --body "Hi"
              switchboard status                     # queue depth, throughput, sender load, errors
              switchboard jobs list --state failed
              switchboard events subscribe --url https://crm.example.com/hooks --events '*' --secret-file crm.secret
              switchboard bench queue --json         # after swift build -c release
            """,
        subcommands: [
            DemoCommand.self, MigrateCommand.self, WorkerCommand.self, WebhookCommand.self, SendCommand.self,
            EnqueueCommand.self, CampaignCommand.self, StatusCommand.self, JobsCommand.self, SessionsCommand.self,
            AccountsCommand.self, NumbersCommand.self, PoolsCommand.self, A2PCommand.self, OptoutsCommand.self,
            EventsCommand.self, RecordingsCommand.self, AgentsCommand.self, CostsCommand.self,
            ConfigCommand.self,
            SimulateCommand.self,
            BenchCommand.self,
        ]
    )
}

/// A failure the user can act on: printed without a stack of wrappers, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
