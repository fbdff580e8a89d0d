import Foundation
import Postgres
import TestSupport
import Testing

@Suite struct FeatureTests {
    @Test func pipelineBatchesStatementsAndReportsAborts() async throws {
        try await TestDatabase.with { db in
            try await db.pool.withConnection { connection in
                let results = try await connection.pipeline([
                    "SELECT \(1)::int", "SELECT \(2)::int", "SELECT 1/0", "SELECT \(4)::int",
                ])
                #expect(try results[0].get().firstRow().decode(Int.self, at: 0) == 1)
                #expect(try results[1].get().firstRow().decode(Int.self, at: 0) == 2)
                #expect(throws: PostgresError.self) { try results[2].get() }
                if case .failure(let error) = results[2] { #expect(error.sqlState == "22012") }
                if case .failure(let error) = results[3] {
                    #expect(error.kind == .pipelineAborted)
                } else {
                    Issue.record("statement after a failure should be aborted")
                }
                // The connection is usable afterwards.
                #expect(try await connection.query("SELECT 5").firstRow().decode(Int.self, at: 0) == 5)
            }
        }
    }

    @Test func copyFromStdinLoadsRowsAndRejectsBadData() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query("CREATE TABLE c (n int, s text)")
            try await db.pool.withConnection { connection in
                let data = (1...1000).map { "\($0)\tname \($0)\n" }.joined()
                let count = try await connection.copyFrom("COPY c FROM STDIN", chunks: [Array(data.utf8)])
                #expect(count == 1000)
                let error = await #expect(throws: PostgresError.self) {
                    try await connection.copyFrom("COPY c FROM STDIN", chunks: [Array("1\tok\nnot-a-number\tx\n".utf8)])
                }
                #expect(error?.sqlState == "22P02")
                #expect(try await connection.query("SELECT count(*) FROM c").firstRow().decode(Int.self, at: 0) == 1000)
            }
        }
    }

    @Test func listenDeliversNotificationsAsAnAsyncSequence() async throws {
        try await TestDatabase.with { db in
            let listener = PostgresListener(configuration: db.configuration, channels: ["events"])
            var iterator = listener.makeAsyncIterator()
            // The first next() connects and LISTENs; send once the listener is registered.
            let sender = Task {
                _ = await eventually {
                    let listening = try await db.pool.query(
                        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()"
                    )
                    return try listening.firstRow().decode(Int.self, at: 0) > 0
                }
                try await db.pool.query("SELECT pg_notify('events', 'hello')")
                try await db.pool.query("SELECT pg_notify('other', 'ignored')")
                try await db.pool.query("SELECT pg_notify('events', 'world')")
            }
            let first = try await iterator.next()
            let second = try await iterator.next()
            try await sender.value
            guard case .notification(let a) = first, case .notification(let b) = second else {
                Issue.record(
                    "expected two notifications, got \(String(describing: first)), \(String(describing: second))")
                return
            }
            #expect([a.payload, b.payload] == ["hello", "world"])
            #expect(a.channel == "events")
        }
    }

    @Test func cancellingAListenerEndsItPromptly() async throws {
        try await TestDatabase.with { db in
            let task = Task {
                for try await _ in PostgresListener(configuration: db.configuration, channels: ["quiet"]) {}
            }
            #expect(await db.listening(on: "quiet"))
            task.cancel()
            // Would hang for the 5-second wait otherwise; completes right after cancellation.
            try await task.value
        }
    }

    @Test func transactionsRollBackOnError() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query("CREATE TABLE r (n int)")
            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await db.pool.transaction { connection in
                    try await connection.query("INSERT INTO r VALUES (1)")
                    throw Boom()
                }
            }
            #expect(try await db.pool.query("SELECT count(*) FROM r").firstRow().decode(Int.self, at: 0) == 0)
        }
    }

    @Test func serializationFailuresAreRetried() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query("CREATE TABLE counter (n int)")
            try await db.pool.query("INSERT INTO counter VALUES (0)")
            let attempts = Counter()
            let reads = Counter()
            // 8 concurrent read-modify-write transactions under SERIALIZABLE conflict with each other;
            // retries make every one of them count exactly once.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await db.pool.transaction(isolation: .serializable, maxAttempts: 50) { connection in
                            attempts.increment()
                            let n = try await connection.query("SELECT n FROM counter").firstRow().decode(
                                Int.self, at: 0)
                            // Everyone reads before anyone writes (on the first round), so they conflict.
                            reads.increment()
                            _ = await eventually { reads.value >= 8 }
                            try await connection.query("UPDATE counter SET n = \(n + 1)")
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await db.pool.query("SELECT n FROM counter").firstRow().decode(Int.self, at: 0) == 8)
            #expect(attempts.value > 8, "the test must actually provoke serialization failures")
        }
    }

    @Test func deadlocksAreRetried() async throws {
        try await TestDatabase.with { db in
            try await db.pool.query("CREATE TABLE d (id int PRIMARY KEY, n int)")
            try await db.pool.query("INSERT INTO d VALUES (1, 0), (2, 0)")
            let attempts = Counter()
            // Both transactions take their first lock before either asks for its second: a
            // deadlock for certain, however the machine schedules them.
            let firstLocks = Counter()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for order in [[1, 2], [2, 1]] {
                    group.addTask {
                        try await db.pool.transaction(maxAttempts: 10) { connection in
                            attempts.increment()
                            try await connection.query("UPDATE d SET n = n + 1 WHERE id = \(order[0])")
                            firstLocks.increment()
                            _ = await eventually { firstLocks.value >= 2 }
                            try await connection.query("UPDATE d SET n = n + 1 WHERE id = \(order[1])")
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await db.pool.query("SELECT sum(n) FROM d").firstRow().decode(Int.self, at: 0) == 4)
            // At least one victim runs again. Its new attempt can take its first row before the
            // survivor, woken late on a busy machine, takes that row: then they deadlock once more.
            #expect(attempts.value >= 3, "one of the two transactions is the deadlock victim and runs again")
        }
    }
}
