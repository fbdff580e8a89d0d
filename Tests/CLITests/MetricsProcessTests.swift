import EmbeddedPostgres
import Foundation
import TestSupport
import Testing

/// `/metrics` of a worker (its own port) and a webhook process after real sends and status
/// callbacks: the series carry what happened, and Prometheus's own linter (`promtool check
/// metrics`, Debian's `prometheus` package) accepts the exposition.
@Suite struct MetricsProcessTests {
    @Test func workerAndWebhookExposeMetricsThatPromtoolAccepts() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "3e71", count: 8), token: "metrics-token-0123456")
            defer { sandbox.stop() }
            let webhookPort = try freeLoopbackPort()
            let metricsPort = try freeLoopbackPort()
            var environment = sandbox.environment
            environment["SWITCHBOARD_PUBLIC_URL"] = "http://127.0.0.1:\(webhookPort)"
            environment["SWITCHBOARD_METRICS_PORT"] = "\(metricsPort)"
            let webhook = try ChildProcess(
                try switchboardBinary(), ["webhook", "--host", "127.0.0.1", "--port", "\(webhookPort)"],
                environment: environment)
            let worker = try ChildProcess(
                try switchboardBinary(), ["worker", "--poll-interval", "200ms", "--metrics-host", "127.0.0.1"],
                environment: environment)
            defer { for process in [webhook, worker] { process.signal(SIGKILL) } }
            try await sandbox.run(["numbers", "add", "--account", "main", "--number", "+15557654321", "--rate", "10"])
            for n in 0..<5 {
                try await sandbox.run([
                    "send", "sms", "--account", "main", "--from", "+15557654321", "--to", "+1555987000\(n)", "--body",
                    "Hi",
                ])
            }
            #expect(
                await eventually(timeout: .seconds(30)) {
                    try await db.integer("SELECT count(*) FROM switchboard.messages WHERE status = 'delivered'") == 5
                }, "\(worker.output) \(webhook.output)")

            let workerMetrics = try await Self.scrape("http://127.0.0.1:\(metricsPort)/metrics")
            #expect(
                workerMetrics.contains(#"switchboard_jobs_total{kind="sms",outcome="completed"} 5"#), "\(workerMetrics)"
            )
            #expect(workerMetrics.contains(#"switchboard_send_latency_seconds_count{channel="sms"} 5"#))
            #expect(
                workerMetrics.contains(
                    #"switchboard_twilio_request_duration_seconds_count{operation="create_message",status="201"} 5"#))
            #expect(workerMetrics.contains(#"switchboard_rate_limit_wait_seconds_count{pool=""} 5"#))
            #expect(workerMetrics.contains("switchboard_voice_sessions_active 0"))
            try await Self.promtoolAccepts(workerMetrics)

            // A job still waiting shows in the queue depth and the oldest due job's age.
            try await db.pool.query("SELECT switchboard.enqueue('unhandled_kind', '{}'::jsonb, queue => 'slow')")
            try await Task.sleep(for: .milliseconds(1100))  // past the one-second reading cache
            let webhookMetrics = try await Self.scrape("http://127.0.0.1:\(webhookPort)/metrics")
            #expect(
                webhookMetrics.contains(
                    #"switchboard_queue_jobs{queue="slow",kind="unhandled_kind",state="available"} 1"#),
                "\(webhookMetrics)")
            #expect(webhookMetrics.contains(#"switchboard_queue_oldest_available_age_seconds{queue="slow"}"#))
            #expect(webhookMetrics.contains(#"switchboard_queue_table_rows{state="dead"}"#), "\(webhookMetrics)")
            #expect(webhookMetrics.contains("switchboard_oldest_transaction_age_seconds "), "\(webhookMetrics)")
            #expect(
                webhookMetrics.contains(
                    #"switchboard_webhook_request_duration_seconds_count{route="/twilio/messages/status",status="204"}"#
                ))
            try await Self.promtoolAccepts(webhookMetrics)
        }
    }

    static func scrape(_ url: String) async throws -> String {
        let curl = try ChildProcess("/usr/bin/curl", ["-sf", url])
        guard await curl.wait() == 0 else { throw ChildProcess.Failure(description: "curl \(url): \(curl.output)") }
        return curl.output
    }

    /// `promtool check metrics` reads the exposition on standard input; any lint finding fails it.
    static func promtoolAccepts(_ exposition: String) async throws {
        let path = NSTemporaryDirectory() + "metrics-\(UInt32.random(in: 0...UInt32.max)).txt"
        try exposition.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let check = try ChildProcess("/bin/sh", ["-c", "/usr/bin/promtool check metrics < \"$0\"", path])
        let status = await check.wait()
        #expect(status == 0, "promtool check metrics: \(check.output)")
    }
}
