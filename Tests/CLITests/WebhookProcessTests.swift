import EmbeddedPostgres
import Foundation
import Postgres
import SwitchboardCore
import TestSupport
import Testing

/// Voice interviews as users run them: `switchboard simulate` with scripted callers, a
/// `switchboard worker`, and two `switchboard webhook` processes behind a load balancer that
/// alternates between them, so the turns of one call are served by both.
@Suite struct WebhookProcessTests {
    @Test func interviewsRunAcrossTwoWebhookProcesses() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "70b5", count: 8), token: "two-webhooks-token-0123",
                simulatorArguments: [
                    "--caller", "+15550009012=Bo Chen|senior level|I led a team of six|next month",
                    "--caller", "+15550009011=Ana Lima|~|None.",
                ])
            defer { sandbox.stop() }
            let proxyPort = try freeLoopbackPort()
            var environment = sandbox.environment
            environment["SWITCHBOARD_PUBLIC_URL"] = "http://127.0.0.1:\(proxyPort)"
            var backends: [String] = []
            var processes: [ChildProcess] = []
            defer { for process in processes { process.signal(SIGKILL) } }
            for _ in 0..<2 {
                let port = try freeLoopbackPort()
                backends.append("http://127.0.0.1:\(port)")
                processes.append(
                    try ChildProcess(
                        try switchboardBinary(), ["webhook", "--host", "127.0.0.1", "--port", "\(port)"],
                        environment: environment))
            }
            let proxy = RoundRobinProxy(port: proxyPort, backends: backends)
            let proxyTask = ServiceTask(proxy, logger: testLogger("test.proxy"))
            defer { proxyTask.stop() }
            for backend in backends {
                let ready = await eventually(timeout: .seconds(20)) {
                    let probe = try ChildProcess("/usr/bin/curl", ["-s", "\(backend)/ready"])
                    return await probe.wait() == 0 && probe.output == "ready"
                }
                #expect(ready, "\(backend) ready: \(processes.map(\.output))")
            }
            processes.append(
                try ChildProcess(
                    try switchboardBinary(), ["worker", "--poll-interval", "200ms"], environment: environment))
            // A producer writes the request itself in SQL; the worker validates it.
            for to in ["+15550009012", "+15550009011"] {
                try await db.pool.query(
                    """
                    SELECT switchboard.enqueue('voice_agent', jsonb_build_object('account', 'main', 'to', \(to)::text,
                        'from', '+15557654321', 'agentType', 'questions', 'questions', \(ExampleFlows.screening)::jsonb))
                    """)
            }
            let ended = await eventually(timeout: .seconds(60)) {
                try await db.integer("SELECT count(*) FROM switchboard.voice_sessions WHERE status = 'ended'") == 2
            }
            #expect(ended, "\(processes.map(\.output))")
            let rows = try await db.pool.query(
                """
                SELECT s.outcome, j.result->'answers' FROM switchboard.voice_sessions s
                JOIN switchboard.all_jobs j ON j.id = s.job_id ORDER BY s.spec->>'to' DESC
                """)
            let outcomes = try rows.map { try $0.decode(String?.self, at: 0) }
            #expect(outcomes == ["completed", "end_call"])
            let senior = try rows.firstRow().decode(PostgresJSON.self, at: 1).decode([String: String].self)
            #expect(senior["experience"] == "senior level" && senior["availability"] == "next month")
            let none = try rows[1].decode(PostgresJSON.self, at: 1).decode([String: String].self)
            #expect(
                none == ["name": "Ana Lima", "experience": "0"], "silence re-prompted, then 'None.' ended the call")
            #expect(
                proxy.servedPerBackend.allSatisfy { $0 >= 3 }, "both processes served turns: \(proxy.servedPerBackend)")
            // An operator reads the interview back.
            let jobID = try await db.integer(
                "SELECT job_id FROM switchboard.voice_sessions WHERE spec->>'to' = '+15550009012'")
            let shown = try sandbox.launch(["sessions", "show", "--job", "\(jobID)"])
            #expect(await shown.wait() == 0)
            #expect(
                shown.output.contains("Caller: Bo Chen") && shown.output.contains("outcome  completed"),
                "\(shown.output)")
            #expect(
                shown.output.contains("senior level") && shown.output.contains("Agent:  Please state your full name."),
                "\(shown.output)")
            let listed = try sandbox.launch(["sessions", "list", "--json"])
            #expect(await listed.wait() == 0)
            let sessions = try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [[String: Any]]
            #expect(sessions?.count == 2, "\(listed.output)")
            for process in processes { process.signal(SIGTERM) }
            for process in processes { #expect(await process.wait() == 0, "\(process.tool): \(process.output)") }
        }
    }
}
