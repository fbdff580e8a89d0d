import EmbeddedPostgres
import Foundation
import Postgres
import TestSupport
import Testing

/// Three worker processes share a pool of five numbers at 2 segments/s each. The limit lives in
/// Postgres, so it must hold across processes: judged from the simulator's receive times.
@Suite(.serialized, .wallClockLane, .tags(.wallClock)) struct RateLimitProcessTests {
    @Test func threeWorkerProcessesKeepEveryNumberWithinItsRate() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "7a7e", count: 8), token: "rate-limit-drill-token-0123")
            defer { sandbox.stop() }
            let baseURL = sandbox.baseURL
            let environment = sandbox.environment
            func cli(_ arguments: [String]) async throws {
                let child = try ChildProcess(try switchboardBinary(), arguments, environment: environment)
                let status = await child.wait()
                #expect(status == 0, "\(arguments.prefix(2)): \(child.output)")
            }
            let numbers = (1...5).map { "+1415555000\($0)" }
            for number in numbers {
                try await cli(["numbers", "add", "--account", "main", "--number", number, "--rate", "2"])
            }
            try await cli(
                ["pools", "create", "--account", "main", "--name", "promo"] + numbers.flatMap { ["--number", $0] })
            // 300 messages to 300 recipients, enqueued by a plain SQL producer.
            try await db.pool.query(
                """
                SELECT switchboard.enqueue('sms', jsonb_build_object('account', 'main', 'pool', 'promo',
                    'to', '+1212555' || lpad(n::text, 4, '0'), 'body', 'Flash sale ' || n))
                FROM generate_series(0, 299) AS n
                """)
            var workers: [ChildProcess] = []
            for _ in 0..<3 {
                workers.append(
                    try ChildProcess(
                        try switchboardBinary(), ["worker", "--poll-interval", "250ms"], environment: environment))
            }
            defer { for worker in workers { worker.signal(SIGKILL) } }
            let done = await eventually(timeout: .seconds(120)) { try await db.jobCount(state: "completed") == 300 }
            let failed = try await db.jobCount(state: "failed")
            #expect(done, "\(failed) failed")
            // Then a second message to 20 of the recipients: each must come from the number that
            // wrote to them first (sticky sender), whichever process sends it.
            try await db.pool.query(
                """
                SELECT switchboard.enqueue('sms', jsonb_build_object('account', 'main', 'pool', 'promo',
                    'to', '+1212555' || lpad(n::text, 4, '0'), 'body', 'Reminder ' || n))
                FROM generate_series(0, 299, 15) AS n
                """)
            #expect(await eventually(timeout: .seconds(60)) { try await db.jobCount(state: "completed") == 320 })
            for worker in workers { worker.signal(SIGTERM) }
            for worker in workers { #expect(await worker.wait() == 0) }

            let list = try ChildProcess("/usr/bin/curl", ["-s", "\(baseURL)/_simulator/messages"])
            #expect(await list.wait() == 0)
            struct Record: Decodable {
                var to: String
                var body: String?
                var from: String?
                var receivedMs: Double
            }
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let records = try decoder.decode([Record].self, from: Data(list.output.utf8))
            #expect(records.count == 320, "each message accepted exactly once")
            for number in numbers {
                let times = records.filter { $0.from == number }.map(\.receivedMs).sorted()
                #expect(times.count > 30, "\(number) was used (\(times.count) messages)")
                var worst = 0
                for (index, start) in times.enumerated() {
                    worst = max(worst, times[index...].prefix { $0 - start < 1000 }.count)
                }
                // 2 per second, plus the configured burst of 1 at a window boundary.
                #expect(worst <= 3, "\(number): \(worst) messages within one second")
            }
            let byRecipient = Dictionary(grouping: records, by: \.to)
            #expect(byRecipient.values.filter { $0.count == 2 }.count == 20)
            #expect(byRecipient.values.allSatisfy { Set($0.map(\.from)).count == 1 }, "sticky sender across processes")
            // Capacity is 10 messages/s: the first 300 need about 29.5 s after the first one.
            let all = records.filter { !($0.body ?? "").hasPrefix("Reminder") }.map(\.receivedMs).sorted()
            let span = (all.last! - all.first!) / 1000
            let perNumber = numbers.map { number -> String in
                let times = records.filter { $0.from == number && !($0.body ?? "").hasPrefix("Reminder") }.map(
                    \.receivedMs
                ).sorted()
                let gaps = zip(times.dropFirst(), times).map { ($0 - $1) / 1000 }
                let slow = gaps.filter { $0 > 0.75 }.count
                return
                    "\(number): \(times.count) msgs, first \(Int(times.first ?? 0)) ms, last \(Int(times.last ?? 0)) ms, \(slow) gaps > 0.75 s"
            }
            print("rate drill: span \(span) s; \(perNumber.joined(separator: "; "))")
            // Within 10% of the configured capacity (the numbers' bookings stay even, see
            // PoolReservationTests).
            #expect(span > 29.5 * 0.9 && span < 29.5 * 1.1, "took \(span) s; \(perNumber.joined(separator: "; "))")
            let attempts = try await db.integer("SELECT max(attempt) FROM switchboard.all_jobs")
            #expect(attempts == 1, "waiting for a slot consumed no attempt")
        }
    }
}
