import EmbeddedPostgres
import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardProcesses
import SwitchboardStore
import SwitchboardWorker
import TestSupport
import Testing
import Twilio

@testable import SwitchboardEvents

/// Issue 13: events reach a real receiver process — one that was down for a while gets every
/// event afterwards, signed (checked with the README's snippet), deduplicable by id and in order
/// per subject; 410 pauses the subscription and resume delivers what waited; a receiver that
/// keeps failing exhausts the schedule and the failure can be sent again.
@Suite(.timeLimit(.minutes(3))) struct EventDeliveryTests {
    static let vault = try! CredentialVault(keySpecification: CredentialVault.generateKeySpecification())

    /// What the receiver process wrote for a delivery it got.
    struct Line: Decodable {
        var id: String
        var headerId: String?
        var type: String
        var subject: String
        var data: [String: JSONValue]
        var verified: Bool
    }

    func handlers(_ db: TestDatabase, schedule: EventRetrySchedule = .standard) -> HandlerRegistry {
        var logger = Logger(label: "test.events")
        logger.logLevel = .warning
        return WorkerProcess.handlers(
            pool: db.pool, twilio: TwilioClient(), vault: Self.vault, publicURL: nil, logger: logger,
            events: .init(timeout: .seconds(5), schedule: schedule))
    }

    func emit(_ db: TestDatabase, _ type: EventType, subject: String, data: [String: JSONValue]) async throws {
        try await db.pool.transaction { connection in
            try await EventStore.emit(type, subject: subject, accountID: nil, data: .object(data), on: connection)
        }
    }

    /// A receiver process and a subscription to its `path`.
    func receiving(_ db: TestDatabase, at path: String, events: [String] = ["*"]) async throws -> (
        EventReceiver, EventStore, Int64, Int
    ) {
        let port = try freeLoopbackPort()
        let secret = WebhookSecret()
        let receiver = try await EventReceiver(port: port, secrets: [secret.text])
        let store = EventStore(pool: db.pool, vault: Self.vault)
        let subscription = try await store.subscribe(
            url: "http://127.0.0.1:\(port)\(path)", eventTypes: events, account: nil, secret: secret.text)
        return (receiver, store, subscription, port)
    }

    func count(_ db: TestDatabase, _ condition: String) async throws -> Int {
        try await db.integer(
            PostgresQuery(unsafeSQL: "SELECT count(*) FROM switchboard.event_deliveries WHERE \(condition)"))
    }

    @Test func aReceiverDownForAWhileGetsEveryEventSignedOnceEachAndInOrderPerSubject() async throws {
        try await TestDatabase.with { db in
            let port = try freeLoopbackPort()
            let secret = WebhookSecret()
            let store = EventStore(pool: db.pool, vault: Self.vault)
            let subscription = try await store.subscribe(
                url: "http://127.0.0.1:\(port)/ok", eventTypes: ["*"], account: nil, secret: secret.text)
            // Five subjects, four events each, interleaved, each in a transaction of its own.
            for step in 0..<4 {
                for subject in 0..<5 {
                    try await emit(
                        db, .messageSent, subject: "message:SM\(subject)",
                        data: ["step": .int(Int64(step)), "note": .string("é ✓ \"quoted\"")])
                }
            }
            let emitted = try await db.pool.query(
                "SELECT 'evt_' || replace(uid::text, '-', '') FROM switchboard.events ORDER BY id"
            ).map { try $0.decode(String.self, at: 0) }
            #expect(emitted.count == 20)
            var receiver: EventReceiver?
            try await withWorker(db, handlers: handlers(db)) { _ in
                // Down: the first event of each subject is tried and refused; the rest wait their turn.
                #expect(await eventually(timeout: .seconds(30)) { try await count(db, "attempts >= 1") == 5 })
                #expect(try await count(db, "attempts = 0") == 15, "later events of a subject wait for earlier ones")
                #expect(try await count(db, "state = 'delivered'") == 0)
                let failing = try await store.subscriptions().first?.failingSince
                #expect(failing != nil)
                // Up.
                receiver = try await EventReceiver(port: port, secrets: [secret.text])
                #expect(await eventually(timeout: .seconds(60)) { try await count(db, "state = 'delivered'") == 20 })
            }
            let lines = try #require(receiver).lines(as: Line.self)
            await receiver?.stop()
            #expect(lines.allSatisfy { $0.verified }, "every delivery verifies with docs/verify-webhook.py")
            #expect(lines.allSatisfy { $0.headerId == $0.id }, "webhook-id is the event's id")
            #expect(Set(lines.map(\.id)) == Set(emitted), "every event, and nothing else")
            // Deduplicated by id (a retry may repeat one), each subject's events arrive in order.
            var seen: Set<String> = []
            var steps: [String: [Int64]] = [:]
            for line in lines where seen.insert(line.id).inserted {
                guard case .int(let step)? = line.data["step"] else { continue }
                steps[line.subject, default: []].append(step)
            }
            #expect(steps.count == 5 && steps.values.allSatisfy { $0 == [0, 1, 2, 3] }, "\(steps)")
            #expect(lines.first?.data["note"] == .string("é ✓ \"quoted\""))
            // The attempts are on record: a refusal, then the success.
            let first = try #require(try await store.deliveries(subscriptionID: subscription).last)
            let attempts = try await store.attempts(deliveryID: first.id)
            #expect(attempts.count >= 2 && attempts.first?.statusCode == nil && attempts.last?.statusCode == 200)
            #expect(attempts.first?.error == "connection refused", "\(attempts.first?.error ?? "")")
            #expect(try await store.subscriptions().first?.failingSince == nil)
        }
    }

    @Test func a410PausesTheSubscriptionAndResumeDeliversWhatWaitedInOrder() async throws {
        try await TestDatabase.with { db in
            let (receiver, store, subscription, port) = try await receiving(db, at: "/gone", events: ["optout.changed"])
            try await withWorker(db, handlers: handlers(db)) { _ in
                try await emit(db, .optoutChanged, subject: "address:+1555", data: ["n": .int(1)])
                #expect(await eventually { try await store.subscriptions().first?.state == .paused })
                let paused = try #require(try await store.subscriptions().first)
                #expect(paused.pausedReason?.contains("410") == true)
                // Paused: events are kept, without jobs.
                try await emit(db, .optoutChanged, subject: "address:+1555", data: ["n": .int(2)])
                try await emit(db, .optoutChanged, subject: "address:+1666", data: ["n": .int(3)])
                #expect(try await count(db, "state = 'pending' AND job_id IS NULL") == 3)
                #expect(
                    try await db.integer(
                        "SELECT count(*) FROM switchboard.jobs WHERE kind = 'event.deliver' AND state IN ('available', 'scheduled')"
                    ) == 0)
                // The receiver moved: point the subscription there and resume.
                #expect(try await store.update(id: subscription, url: "http://127.0.0.1:\(port)/ok"))
                #expect(try await store.resume(id: subscription) == 3)
                #expect(await eventually { try await count(db, "state = 'delivered'") == 3 })
            }
            let lines = receiver.lines(as: Line.self)
            await receiver.stop()
            // In order within a subject; the other subject's event is not held back by them.
            let order = lines.map { $0.data["n"] }
            #expect(Set(order) == [.int(1), .int(2), .int(3)] && order.count == 3)
            #expect((order.firstIndex(of: .int(1)) ?? 9) < (order.firstIndex(of: .int(2)) ?? -1))
            #expect(lines.allSatisfy { $0.verified })
        }
    }

    @Test func aReceiverThatKeepsFailingExhaustsTheScheduleAndCanBeSentAgain() async throws {
        try await TestDatabase.with { db in
            let (receiver, store, subscription, port) = try await receiving(db, at: "/fail")
            let quick = EventRetrySchedule(waits: [.milliseconds(50), .milliseconds(50)], jitter: 0)
            try await withWorker(db, handlers: handlers(db, schedule: quick)) { _ in
                try await emit(db, .campaignFinished, subject: "campaign:1", data: [:])
                #expect(await eventually { try await count(db, "state = 'failed'") == 1 })
                let delivery = try #require(try await store.deliveries().first)
                #expect(delivery.attempts == 3 && delivery.lastStatusCode == 500 && delivery.lastError == "HTTP 500")
                #expect(try await store.attempts(deliveryID: delivery.id).map(\.statusCode) == [500, 500, 500])
                // The job fails too (the worker records it just after).
                #expect(
                    await eventually {
                        try await db.integer(
                            "SELECT count(*) FROM switchboard.jobs WHERE kind = 'event.deliver' AND state = 'failed'")
                            == 1
                    })
                // Fixed on the receiver's side: send it again.
                #expect(try await store.update(id: subscription, url: "http://127.0.0.1:\(port)/ok"))
                #expect(try await store.redeliver(subscriptionID: subscription) == 1)
                #expect(await eventually { try await count(db, "state = 'delivered'") == 1 })
            }
            #expect(
                receiver.lines(as: Line.self).count == 1 && receiver.lines(as: Line.self).allSatisfy { $0.verified })
            await receiver.stop()
        }
    }

    @Test func aRotatedSecretSignsBesideTheOldOneUntilTheOverlapEnds() async throws {
        try await TestDatabase.with { db in
            let port = try freeLoopbackPort()
            let old = WebhookSecret()
            let new = WebhookSecret()
            // This receiver knows only the new secret: every delivery after the rotation verifies.
            let receiver = try await EventReceiver(port: port, secrets: [new.text])
            let store = EventStore(pool: db.pool, vault: Self.vault)
            let subscription = try await store.subscribe(
                url: "http://127.0.0.1:\(port)/ok", eventTypes: ["*"], account: nil, secret: old.text)
            #expect(try await store.rotateSecret(id: subscription, secret: new.text, overlap: .seconds(3600)))
            let work = try await store.work(deliveryID: 0, jobID: 0)
            #expect(work == .settled, "no such delivery")
            try await withWorker(db, handlers: handlers(db)) { _ in
                try await emit(db, .replyReceived, subject: "conversation:a:b", data: [:])
                #expect(await eventually { try await count(db, "state = 'delivered'") == 1 })
            }
            #expect(
                receiver.lines(as: Line.self).count == 1 && receiver.lines(as: Line.self).allSatisfy { $0.verified })
            await receiver.stop()
            // Both secrets sign during the overlap, only the new one after it.
            try await emit(db, .replyReceived, subject: "conversation:a:c", data: [:])
            let pending = try #require(try await store.deliveries(state: .pending).first)
            let jobID = try #require(
                try await db.pool.query("SELECT job_id FROM switchboard.event_deliveries WHERE id = \(pending.id)")
                    .firstRow().decode(Int64?.self, at: 0))
            guard case .ready(let during) = try await store.work(deliveryID: pending.id, jobID: jobID) else {
                Issue.record("not ready")
                return
            }
            #expect(during.secrets == [new.text, old.text])
            try await db.pool.query(
                "UPDATE switchboard.event_subscriptions SET previous_until = now() - interval '1 second'")
            guard case .ready(let after) = try await store.work(deliveryID: pending.id, jobID: jobID) else {
                Issue.record("not ready")
                return
            }
            #expect(after.secrets == [new.text])
        }
    }

    @Test func deletingASubscriptionCancelsItsQueuedDeliveries() async throws {
        try await TestDatabase.with { db in
            let store = EventStore(pool: db.pool, vault: Self.vault)
            let subscription = try await store.subscribe(
                url: "http://127.0.0.1:9/x", eventTypes: ["*"], account: nil, secret: WebhookSecret().text)
            try await emit(db, .messageSent, subject: "message:a", data: [:])
            try await emit(db, .messageSent, subject: "message:b", data: [:])
            #expect(try await store.delete(id: subscription))
            #expect(try await store.delete(id: subscription) == false)
            #expect(try await db.integer("SELECT count(*) FROM switchboard.event_deliveries") == 0)
            #expect(try await db.jobCount(state: "cancelled") == 2)
        }
    }

    @Test func anEventOfARolledBackCauseIsNeverWritten() async throws {
        try await TestDatabase.with { db in
            let store = EventStore(pool: db.pool, vault: Self.vault)
            _ = try await store.subscribe(
                url: "http://127.0.0.1:9/x", eventTypes: ["*"], account: nil, secret: WebhookSecret().text)
            struct Abandon: Error {}
            await #expect(throws: Abandon.self) {
                try await db.pool.transaction { connection in
                    try await EventStore.emit(
                        .messageSent, subject: "message:a", accountID: nil, data: .object([:]), on: connection)
                    throw Abandon()
                }
            }
            #expect(try await db.integer("SELECT count(*) FROM switchboard.events") == 0)
            #expect(try await db.jobCount() == 0)
        }
    }

    @Test func badSubscriptionsAreRefusedNamingTheField() async throws {
        try await TestDatabase.with { db in
            let store = EventStore(pool: db.pool, vault: Self.vault)
            let secret = WebhookSecret().text
            for (url, types, account, field) in [
                ("ftp://example.com/x", ["*"], nil, "url"), ("http://", ["*"], nil, "url"),
                ("http://example.com/a b", ["*"], nil, "url"),
                ("http://example.com/x", ["message.exploded"], nil, "events"),
                ("http://example.com/x", [""], nil, "events"), ("http://example.com/x", ["*"], "nobody", "account"),
            ] as [(String, [String], String?, String)] {
                let error = await #expect(throws: InputError.self) {
                    _ = try await store.subscribe(url: url, eventTypes: types, account: account, secret: secret)
                }
                #expect(error?.field == field, "\(url) \(types)")
            }
            let left = try await store.subscriptions()
            #expect(left.isEmpty, "nothing half-written")
        }
    }

    @Test func nothingUnsignedGoesOutWhenASecretDoesNotRead() async throws {
        try await TestDatabase.with { db in
            let delivery = EventDelivery(store: EventStore(pool: db.pool, vault: Self.vault))
            let report = await delivery.attempt(
                EventDeliveryWork.Ready(
                    deliveryID: 1, subscriptionID: 1, url: "http://127.0.0.1:9/never", eventID: "evt_1", body: "{}",
                    attempts: 0, secrets: ["written-by-hand"]))
            #expect(report.verdict == .failed(final: true) && report.statusCode == nil)
            #expect(report.error?.contains("signing secret does not read") == true)
        }
    }

    @Test func theScheduleWaitsLongerEachTimeForDaysThenStops() {
        let schedule = EventRetrySchedule.standard
        #expect(schedule.attempts == 12)
        let waits = (1...11).map { schedule.wait(afterAttempts: $0, unitRandom: 0.5) }
        #expect(waits.compactMap { $0 } == schedule.waits)
        #expect(schedule.wait(afterAttempts: 12, unitRandom: 0.5) == nil)
        let total = schedule.waits.reduce(Duration.zero, +)
        #expect(total > .seconds(3 * 86_400) && total < .seconds(4 * 86_400))
        #expect(schedule.wait(afterAttempts: 1, unitRandom: 0) == .seconds(4))
        #expect(schedule.wait(afterAttempts: 1, unitRandom: 1) == .seconds(6))
    }
}
