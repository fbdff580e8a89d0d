import Foundation
import Postgres
import SwitchboardStore
import TwilioSimulator

/// The demo's closing summary, from the database (jobs) and the simulator (what Twilio accepted
/// and how delivery ended).
struct DemoReport {
    let pool: PostgresPool
    let simulator: TwilioSimulator
    let elapsed: Duration

    func print() async throws {
        let messages = await simulator.messages()
        let calls = await simulator.calls()
        // As the status callbacks recorded them in Postgres.
        let statuses = try await pool.query(
            "SELECT status, count(*) FROM switchboard.all_messages GROUP BY 1 ORDER BY 1")
        let byStatus = Dictionary(
            uniqueKeysWithValues: try statuses.map {
                (try $0.decode(String.self, at: 0), try $0.decode(Int.self, at: 1))
            })
        let segments = messages.reduce(0) { $0 + $1.segments }
        let jobs = try await pool.query(
            "SELECT state::text, count(*), count(*) FILTER (WHERE attempt > 1) FROM switchboard.all_jobs GROUP BY 1 ORDER BY 1"
        )
        say("")
        say("summary after \(String(format: "%.1f", elapsed.seconds)) s")
        for row in jobs {
            let retried = try row.decode(Int.self, at: 2)
            say(
                "  jobs \(try row.decode(String.self, at: 0)): \(try row.decode(Int.self, at: 1))"
                    + (retried > 0 ? " (\(retried) after retries)" : ""))
        }
        say("  messages accepted by Twilio: \(messages.count) (\(segments) segments), calls placed: \(calls.count)")
        say(
            "  delivery: " + byStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        )
        for message in messages where message.resource.errorCode != nil {
            say(
                "    \(message.resource.to): \(message.resource.status) with error \(message.resource.errorCode!) (\(message.resource.errorMessage ?? ""))"
            )
        }
        let costs = try await pool.query(
            "SELECT price_unit, sum(cost)::text, sum(priced)::bigint FROM switchboard.cost_totals GROUP BY 1 ORDER BY 1"
        )
        let backlog = try await PriceStore(pool: pool).backlog()
        let charged = try costs.map {
            "\(try $0.decode(String.self, at: 1)) \(try $0.decode(String.self, at: 0)) for \(try $0.decode(Int64.self, at: 2))"
        }
        say(
            "  cost: \(charged.isEmpty ? "none published" : charged.joined(separator: ", ")) messages and calls, "
                + "as Twilio priced them after sending (\(backlog.unknown) never priced, \(backlog.waiting) still waiting)"
        )
        let failures = try await pool.query(
            """
            SELECT kind, payload->>'to', errors->-1->>'error' FROM switchboard.all_jobs WHERE state = 'failed' ORDER BY id
            """)
        if !failures.isEmpty { say("  failed jobs:") }
        for row in failures {
            say(
                "    \(try row.decode(String.self, at: 0)) to \(try row.decode(String?.self, at: 1) ?? "?"): \(try row.decode(String?.self, at: 2) ?? "")"
            )
        }
        let surveys = try await pool.query(
            """
            SELECT j.payload->>'to', s.outcome, j.result->'answers', jsonb_array_length(j.result->'transcript')
            FROM switchboard.voice_sessions s JOIN switchboard.all_jobs j ON j.id = s.job_id ORDER BY s.id
            """)
        for row in surveys {
            say(
                "  voice-agent survey to \(try row.decode(String?.self, at: 0) ?? "?"): \(try row.decode(String?.self, at: 1) ?? "running"), "
                    + "answers \(try row.decode(String?.self, at: 2) ?? "{}"), \(try row.decode(Int?.self, at: 3) ?? 0) transcript lines"
            )
        }
        let sample = try await pool.query(
            "SELECT body FROM switchboard.messages WHERE channel = 'sms' ORDER BY id LIMIT 1")
        if let body = try sample.first?.decode(String?.self, at: 0) { say("  example: \"\(body)\"") }
    }
}
