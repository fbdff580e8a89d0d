import EmbeddedPostgres
import Foundation
import TestSupport
import Testing

/// Settings from the environment: every worker/webhook flag as SWITCHBOARD_<FLAG>, errors that
/// name the variable, and `switchboard config` with secrets masked.
@Suite struct ConfigurationTests {
    @Test func environmentVariablesSetFlagsAndFlagsWin() async throws {
        try await TestDatabase.with { db in
            let conninfo = db.configuration.parameters.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
            try await db.pool.query("SELECT switchboard.enqueue('noop', '{}'::jsonb, queue => 'slow')")
            // SWITCHBOARD_QUEUES picks the queue; the bad SWITCHBOARD_CONCURRENCY is overridden by the flag.
            let worker = try ChildProcess(
                try switchboardBinary(), ["worker", "--concurrency", "5"],
                environment: [
                    "SWITCHBOARD_DATABASE_URL": conninfo, "SWITCHBOARD_QUEUES": "slow",
                    "SWITCHBOARD_CONCURRENCY": "abc",
                    "SWITCHBOARD_POLL_INTERVAL": "100ms", "SWITCHBOARD_LISTEN": "false",
                ])
            defer { worker.signal(SIGKILL) }
            #expect(
                await eventually(timeout: .seconds(20)) { try await db.jobCount(state: "completed") == 1 },
                "\(worker.output)")
            worker.signal(SIGTERM)
            #expect(await worker.wait() == 0)
        }
    }

    @Test func aBadValueFromTheEnvironmentNamesItsVariable() async throws {
        let concurrency = try ChildProcess(
            try switchboardBinary(), ["worker", "--database-url", "postgres://x@127.0.0.1:1/x"],
            environment: ["SWITCHBOARD_CONCURRENCY": "abc"])
        #expect(await concurrency.wait() == 64)
        #expect(
            concurrency.output.contains("SWITCHBOARD_CONCURRENCY: 'abc' is not a whole number"), "\(concurrency.output)"
        )
        let listen = try ChildProcess(
            try switchboardBinary(), ["webhook", "--database-url", "postgres://x@127.0.0.1:1/x"],
            environment: ["SWITCHBOARD_REPLY_WINDOW": "forever", "SWITCHBOARD_PUBLIC_URL": "https://hooks.example.com"])
        #expect(await listen.wait() == 64)
        #expect(listen.output.contains("SWITCHBOARD_REPLY_WINDOW"), "\(listen.output)")
        let token = try ChildProcess(
            try switchboardBinary(), ["webhook", "--database-url", "postgres://x@127.0.0.1:1/x"],
            environment: [
                "SWITCHBOARD_DASHBOARD_TOKEN": "short", "SWITCHBOARD_PUBLIC_URL": "https://hooks.example.com",
            ])
        #expect(await token.wait() == 64)
        #expect(token.output.contains("SWITCHBOARD_DASHBOARD_TOKEN: is 5 characters"), "\(token.output)")
        #expect(!token.output.contains("short"), "the token itself is not printed")
        let toolSecret = try ChildProcess(
            try switchboardBinary(), ["webhook", "--database-url", "postgres://x@127.0.0.1:1/x"],
            environment: [
                "SWITCHBOARD_TOOL_SECRET": "sk_tool_not_a_webhook_secret",
                "SWITCHBOARD_PUBLIC_URL": "https://hooks.example.com",
            ])
        #expect(await toolSecret.wait() == 64)
        #expect(toolSecret.output.contains("SWITCHBOARD_TOOL_SECRET: is not a signing secret"), "\(toolSecret.output)")
        #expect(!toolSecret.output.contains("sk_tool_not"), "the secret itself is not printed")
    }

    @Test func configShowsSettingsWithSecretsMasked() async throws {
        let key = "k1:" + Data(repeating: 7, count: 32).base64EncodedString()
        let config = try ChildProcess(
            try switchboardBinary(), ["config"],
            environment: [
                "DATABASE_URL": "postgres://app:hunter2-secret@db.internal:5432/sb", "SWITCHBOARD_MASTER_KEY": key,
                "OPENAI_API_KEY": "sk-test-very-secret-key", "SWITCHBOARD_DASHBOARD_TOKEN": "0123456789abcdef-token",
                "SWITCHBOARD_GRACE_PERIOD": "30s", "SWITCHBOARD_LOG_FORMAT": "xml",
            ])
        #expect(await config.wait() == 64, "an invalid setting fails the check")
        let output = config.output
        for secret in ["hunter2-secret", key, "sk-test-very-secret-key", "0123456789abcdef-token"] {
            #expect(!output.contains(secret), "\(secret.prefix(6))… is masked")
        }
        #expect(output.contains("password=********") && output.contains("host=db.internal"), "\(output)")
        #expect(output.contains("SWITCHBOARD_GRACE_PERIOD") && output.contains("30s"))
        #expect(output.contains("SWITCHBOARD_LOG_FORMAT") && output.contains("✗ 'xml' is not one of human, json"))
    }

    /// `config` reads through the processes' own functions, so for each bad setting the worker or
    /// webhook refusing to start and `config` marking it go together, naming the same variable.
    @Test func configAndTheProcessesAgreeOnEveryBadSetting() async throws {
        let key = "k1:" + Data(repeating: 7, count: 32).base64EncodedString()
        let base = [
            "DATABASE_URL": "postgres://app@127.0.0.1:1/sb", "SWITCHBOARD_MASTER_KEY": key,
            "SWITCHBOARD_PUBLIC_URL": "https://hooks.example.com",
        ]
        let cases: [(command: String, variable: String, value: String)] = [
            ("worker", "SWITCHBOARD_CONCURRENCY", "abc"), ("worker", "SWITCHBOARD_CONCURRENCY", "0"),
            ("worker", "SWITCHBOARD_LISTEN", "maybe"), ("worker", "SWITCHBOARD_LEASE", "20s"),
            ("worker", "SWITCHBOARD_METRICS_PORT", "70000"), ("worker", "SWITCHBOARD_TWILIO_TIMEOUT", "soon"),
            ("worker", "SWITCHBOARD_POOL_SIZE", "-1"), ("webhook", "SWITCHBOARD_LLM_DEADLINE", "20s"),
            ("webhook", "SWITCHBOARD_MAX_CONNECTIONS", "lots"), ("webhook", "SWITCHBOARD_PORT", "99999"),
            ("webhook", "SWITCHBOARD_DRAIN_TIMEOUT", "a while"), ("webhook", "SWITCHBOARD_DRAIN_TIMEOUT", "-5s"),
        ]
        for (command, variable, value) in cases {
            var environment = base
            environment[variable] = value
            let process = try ChildProcess(try switchboardBinary(), [command], environment: environment)
            #expect(await process.wait() == 64, "\(command) with \(variable)=\(value): \(process.output)")
            #expect(process.output.contains("\(variable): "), "\(command) names \(variable): \(process.output)")
            let config = try ChildProcess(try switchboardBinary(), ["config", "--json"], environment: environment)
            #expect(await config.wait() == 64, "config with \(variable)=\(value): \(config.output)")
            let rows = try JSONDecoder().decode([Row].self, from: Data(config.output.utf8))
            #expect(rows.contains { $0.name == variable && $0.problem != nil }, "\(variable): \(config.output)")
            #expect(rows.filter { $0.problem != nil }.count == 1, "only \(variable) is marked: \(config.output)")
        }
    }

    struct Row: Decodable {
        var name: String
        var value: String
        var problem: String?
        var unknown: Bool
    }

    /// A variable no process reads is most likely a typo: listed as such, without failing.
    @Test func configPointsOutAVariableNoProcessReads() async throws {
        let key = "k1:" + Data(repeating: 7, count: 32).base64EncodedString()
        let config = try ChildProcess(
            try switchboardBinary(), ["config", "--json"],
            environment: [
                "DATABASE_URL": "postgres://app@127.0.0.1:1/sb", "SWITCHBOARD_MASTER_KEY": key,
                "SWITCHBOARD_CONCURENCY": "20", "SWITCHBOARD_CONCURRENCY": "30",
            ])
        #expect(await config.wait() == 0, "\(config.output)")
        let rows = try JSONDecoder().decode([Row].self, from: Data(config.output.utf8))
        #expect(rows.contains { $0.name == "SWITCHBOARD_CONCURENCY" && $0.unknown && $0.problem == nil })
        #expect(rows.contains { $0.name == "SWITCHBOARD_CONCURRENCY" && !$0.unknown && $0.value == "30" })
    }

    /// `config` judges URLs as the processes do (it refused Azure's `?api-version=` on the model's
    /// base URL, which worker and webhook accept); the public URL, which signatures cover, takes none.
    @Test func configAcceptsTheURLsTheProcessesAccept() async throws {
        let key = "k1:" + Data(repeating: 7, count: 32).base64EncodedString()
        let base: [String: String] = [
            "DATABASE_URL": "postgres://app@db.internal:5432/sb", "SWITCHBOARD_MASTER_KEY": key,
            "OPENAI_BASE_URL": "https://example.openai.azure.com/openai/deployments/d1?api-version=2024-06-01",
            "SWITCHBOARD_TWILIO_BASE_URL": "http://127.0.0.1:8080/?region=test",
        ]
        let accepted = try ChildProcess(try switchboardBinary(), ["config"], environment: base)
        #expect(await accepted.wait() == 0, "\(accepted.output)")
        #expect(!accepted.output.contains("✗"), "\(accepted.output)")
        var withQuery = base
        withQuery["SWITCHBOARD_PUBLIC_URL"] = "https://hooks.example.com/?x=1"
        let refused = try ChildProcess(try switchboardBinary(), ["config"], environment: withQuery)
        #expect(await refused.wait() == 64)
        #expect(
            refused.output.contains("✗ 'https://hooks.example.com/?x=1' is not an http(s) URL without a query"),
            "\(refused.output)")
    }
}

/// Issue 11 §9: no part of a secret in any message, on every path a configuration error takes.
@Suite struct SecretsInErrorsTests {
    static let key = Data((0..<32).map { UInt8($0 * 7 % 251) }).base64EncodedString()

    @Test func malformedSecretsAreNeverEchoed() async throws {
        let urls = [
            "postgres://app:MyS3cret/Value@127.0.0.1:1/sb", "postgres://app:MyS3cretValue/@127.0.0.1:1/sb",
            "postgres://app:MyS3cret%zzValue@127.0.0.1:1/sb", "host=127.0.0.1 port=1 password=MyS3cret Value",
        ]
        let keys = [
            "\(Self.key):k1", "k1:\(Self.key.dropLast(4))", "\(Self.key.prefix(20))", "k1:\(Self.key),k1:\(Self.key)",
        ]
        var runs: [(arguments: [String], environment: [String: String], secrets: [String])] = []
        for url in urls {
            let environment = ["DATABASE_URL": url, "SWITCHBOARD_MASTER_KEY": "k1:" + Self.key]
            for command in [["config"], ["worker"], ["migrate"], ["status"]] {
                runs.append((command, environment, ["S3cr", "cret", "Valu", "alue"]))
            }
        }
        for key in keys {
            let environment = ["DATABASE_URL": "postgres://app@127.0.0.1:1/sb", "SWITCHBOARD_MASTER_KEY": key]
            let pieces = stride(from: 0, to: Self.key.count - 8, by: 8).map {
                String(Self.key.dropFirst($0).prefix(8))
            }
            for command in [["config"], ["worker"], ["webhook", "--public-url", "http://127.0.0.1:9"]] {
                runs.append((command, environment, pieces))
            }
        }
        for run in runs {
            let child = try ChildProcess(try switchboardBinary(), run.arguments, environment: run.environment)
            let status = await child.wait()
            #expect(status != 0, "\(run.arguments) with a malformed secret fails")
            for piece in run.secrets {
                #expect(!child.output.contains(piece), "\(run.arguments): \(child.output)")
            }
        }
    }
}

/// A mistyped command exits 64 and says what to type instead.
@Suite struct UsageErrorTests {
    @Test func mistypedSubcommandsGetASuggestion() async throws {
        let typo = try await switchboard(["sned", "sms"])
        #expect(typo.status == 64)
        #expect(typo.output.contains("did you mean `switchboard send`?"), "\(typo.output)")
        let nested = try await switchboard(["jobs", "lst"])
        #expect(
            nested.status == 64 && nested.output.contains("did you mean `switchboard jobs list`?"), "\(nested.output)")
        let unknown = try await switchboard(["numbers", "frobnicate"])
        #expect(unknown.status == 64)
        #expect(
            unknown.output.contains("switchboard numbers has: add, list, update, remove, import"), "\(unknown.output)")
    }
}
