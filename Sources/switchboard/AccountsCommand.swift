import ArgumentParser
import Foundation
import SwitchboardStore

struct AccountsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accounts",
        abstract: "Manage Twilio accounts (secrets are encrypted with SWITCHBOARD_MASTER_KEY).",
        discussion: """
            Secrets are read from standard input, never from flags.
            Examples:
              printf '%s' "$TWILIO_AUTH_TOKEN" | switchboard accounts add --name main --sid ACxxxxxxxx…
              printf '%s' "$API_KEY_SECRET" | switchboard accounts add --name main --sid ACxxxx… --api-key SKxxxx…
              switchboard accounts list
              printf '%s' "$TWILIO_AUTH_TOKEN" | switchboard accounts set-webhook-token --name main
              switchboard accounts rotate-key          # after putting the new key first in SWITCHBOARD_MASTER_KEY
            """,
        subcommands: [Add.self, List.self, SetWebhookToken.self, RotateKey.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add or replace an account; the auth token (or API key secret) is read from standard input.",
            discussion: """
                Example:
                  export SWITCHBOARD_MASTER_KEY=k1:$(openssl rand -base64 32)   # keep it safe
                  printf '%s' "$TWILIO_AUTH_TOKEN" | switchboard accounts add --name main --sid ACxxxxxxxx…
                The secret is never taken from a flag, so it stays out of shell history and process lists.
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The name jobs use for this account.") var name: String
        @Option(help: "Account SID (AC…).") var sid: String
        @Option(help: "API Key SID (SK…) when the secret on stdin is an API key secret.") var apiKey: String?

        func run() async throws {
            let vault = try masterKey()
            let data = FileHandle.standardInput.readDataToEndOfFile()
            let secret = String(decoding: data, as: UTF8.self)
            let id = try await database.withPool { pool in
                try await AccountStore(pool: pool, vault: vault).upsert(
                    name: name, accountSID: sid, apiKeySID: apiKey, secret: secret)
            }
            print("account '\(name)' saved (id \(id), secret sealed with key '\(vault.currentKeyID)')")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List accounts (never their secrets).")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let accounts = try await database.withPool { pool in
                try await AccountStore(pool: pool, vault: try masterKey()).all()
            }
            for account in accounts {
                let state = account.flagReason.map { "FLAGGED: \($0)" } ?? "ok"
                print("\(account.name)\t\(account.accountSID)\tkey \(account.keyID)\t\(state)")
            }
        }
    }

    struct SetWebhookToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-webhook-token",
            abstract: "Store the auth token of an account that sends with an API key (read from standard input).",
            discussion: """
                Twilio signs webhooks with the account's auth token, which an API key account does not otherwise
                store. Example:
                  printf '%s' "$TWILIO_AUTH_TOKEN" | switchboard accounts set-webhook-token --name main
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The account's name.") var name: String

        func run() async throws {
            let vault = try masterKey()
            let token = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            let found = try await database.withPool { pool in
                try await AccountStore(pool: pool, vault: vault).setWebhookToken(name: name, token: token)
            }
            guard found else { throw CommandFailure("no account named '\(name)'") }
            print("webhook token of '\(name)' saved (sealed with key '\(vault.currentKeyID)')")
        }
    }

    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract:
                "Re-seal every secret (accounts, event signing) with the first key of SWITCHBOARD_MASTER_KEY (list the old key after it)."
        )
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let vault = try masterKey()
            let (changed, signing) = try await database.withPool {
                (
                    try await AccountStore(pool: $0, vault: vault).resealAll(),
                    try await EventStore(pool: $0, vault: vault).resealAll()
                )
            }
            print(
                "re-sealed \(changed) account secret(s) and \(signing) event signing secret(s) with key '\(vault.currentKeyID)'"
            )
        }
    }
}

/// The master key from the environment, as a usage error if it is missing or malformed.
func masterKey() throws -> CredentialVault {
    try MasterKey.vault(Settings(), required: true)!
}

/// The master key: `SWITCHBOARD_MASTER_KEY`, else the file named by `SWITCHBOARD_MASTER_KEY_FILE`
/// (environment only: a key on the command line would show in process lists).
enum MasterKey {
    static func vault(_ settings: Settings, required: Bool) throws -> CredentialVault? {
        if let key = settings.text("master-key", secret: true) {
            // The vault's messages name the variable and never show the key.
            return try settings.converted(key, fallback: nil) {
                try CredentialVault(keySpecification: $0, source: key.source)
            }
        }
        if let file = settings.text("master-key-file") {
            guard let contents = try? String(contentsOfFile: file.value, encoding: .utf8) else {
                try settings.problem(file.source, "cannot read \(file.value)")
                return nil
            }
            return try settings.converted(file, fallback: nil) {
                _ = $0
                return try CredentialVault(keySpecification: contents, source: file.source)
            }
        }
        guard required else { return nil }
        throw ValidationError(
            "no master key: set SWITCHBOARD_MASTER_KEY (openssl rand -base64 32) or SWITCHBOARD_MASTER_KEY_FILE")
    }
}
