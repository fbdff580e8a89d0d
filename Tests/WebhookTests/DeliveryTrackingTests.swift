import Foundation
import Postgres
import SwitchboardCore
import SwitchboardStore
import TestSupport
import Testing
import Twilio

/// Status callbacks move messages and calls forward only, reach the job's result and announce
/// final statuses.
@Suite struct DeliveryTrackingTests {
    func callback(_ messageSID: String, _ status: String, errorCode: Int? = nil, to: String = "+15550002222")
        -> FormParameters
    {
        var form: FormParameters = [
            "MessageSid": messageSID, "SmsSid": messageSID, "MessageStatus": status, "AccountSid": accountSID,
            "To": to, "From": "+14155550100",
        ]
        form.append("ErrorCode", errorCode.map(String.init))
        return form
    }

    func job(_ db: TestDatabase) async throws -> Int64 {
        try await db.store.enqueue(NewJob(kind: "noop")).id
    }

    func result(_ db: TestDatabase, _ id: Int64) async throws -> [String: JSONValue] {
        try await db.store.job(id: id)?.result?.decode([String: JSONValue].self) ?? [:]
    }

    @Test func outOfOrderCallbacksNeverMoveAStatusBack() async throws {
        try await WebhookHarness.with { hooks in
            let jobID = try await job(hooks.db)
            let message = sid("SM", 2)
            try await hooks.recordMessage(sid: message, jobID: jobID, to: "+15550002222")
            let listener = PostgresListener(configuration: hooks.db.configuration, channels: [StatusStore.channel])
            let notified = Task { () -> String? in
                for try await event in listener {
                    if case .notification(let note) = event { return note.payload }
                }
                return nil
            }
            #expect(await hooks.db.listening(on: StatusStore.channel))
            let path = "/twilio/messages/status"
            for status in ["sent", "delivered", "sent", "queued", "undelivered"] {
                #expect(try await hooks.post(path, callback(message, status)).status == 204)
            }
            #expect(try await hooks.status(of: message) == "delivered")
            #expect(try await result(hooks.db, jobID)["messageStatus"] == .string("delivered"))
            let payload = try await notified.value
            notified.cancel()
            let decoded = try JSONDecoder().decode([String: JSONValue].self, from: Data((payload ?? "").utf8))
            #expect(decoded["jobId"] == .int(jobID))
            #expect(decoded["status"] == .string("delivered"))
            // WhatsApp's read comes after delivered.
            #expect(try await hooks.post(path, callback(message, "read")).status == 204)
            #expect(try await hooks.status(of: message) == "read")
            // Unknown statuses are accepted and ignored (Twilio adds some without notice).
            #expect(try await hooks.post(path, callback(message, "teleported")).status == 204)
            #expect(try await hooks.status(of: message) == "read")
        }
    }

    /// Issue 15, item 3: a late callback for a message and a job both moved to history is applied
    /// there (not left waiting as if the message were unknown), and history drops whole days.
    @Test func aLateCallbackForAnArchivedMessageReachesItAndItsArchivedJob() async throws {
        try await WebhookHarness.with { hooks in
            let jobID = try await job(hooks.db)
            let message = sid("SM", 7)
            try await hooks.recordMessage(sid: message, jobID: jobID, to: "+15550002222")
            try await hooks.db.pool.query(
                """
                UPDATE switchboard.jobs SET state = 'completed', finished_at = now() - interval '3 days',
                    result = '{"messageSid": "\(unescaped: message)", "messageStatus": "sent"}'
                WHERE id = \(jobID)
                """)
            try await hooks.db.pool.query(
                "UPDATE switchboard.messages SET created_at = now() - interval '3 days' WHERE sid = \(message)")
            let deliveries = DeliveryStore(pool: hooks.db.pool)
            #expect(try await hooks.db.store.archive(finishedMoreThan: .seconds(60)) == 1)
            #expect(try await deliveries.archive(createdMoreThan: .seconds(2 * 86_400)) == 1)
            #expect(try await deliveries.archive(createdMoreThan: .seconds(2 * 86_400)) == 0)
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.messages") == 0)

            #expect(try await hooks.post("/twilio/messages/status", callback(message, "delivered")).status == 204)
            #expect(
                try await hooks.db.pool.query(
                    "SELECT status FROM switchboard.message_history WHERE sid = \(message)"
                ).first?.decode(String.self, at: 0) == "delivered")
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.pending_statuses") == 0)
            #expect(try await result(hooks.db, jobID)["messageStatus"] == .string("delivered"))
            #expect(try await deliveries.recordedJobs([message]) == [message: jobID])
            #expect(try await deliveries.messages(jobID: jobID).map(\.status) == ["delivered"])

            // Its day (before the history began, three days ago) ended more than a second ago.
            let pruned = try await deliveries.prune(olderThan: .seconds(1))
            #expect(pruned.droppedPartitions.count == 1)
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.all_messages") == 0)
            #expect(try await deliveries.createHistoryPartitions(daysAhead: 2) == 0, "the days ahead remain")
        }
    }

    /// Backends of this test's database waiting for a status bucket (0012's advisory locks).
    static let waitingOnStatusBuckets: PostgresQuery = """
        SELECT count(*) FROM pg_locks
        WHERE locktype = 'advisory' AND NOT granted AND classid = 1398227539
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """

    /// The race the worker-kill drill hit once in 2,000: the callback arrives while the worker's
    /// insert is in flight. Its row is not visible yet, and the insert's own look for waiting
    /// callbacks is already taken; without a meeting point the status waited for ever.
    @Test func aCallbackArrivingWhileTheSendIsBeingRecordedIsApplied() async throws {
        try await WebhookHarness.with { hooks in
            let jobID = try await job(hooks.db)
            let message = sid("SM", 4)
            let row = MessageRow(
                sid: message, jobID: jobID, accountID: hooks.accountID, channel: "sms", to: "+15550002222",
                from: "+14155550100", messagingServiceSID: nil, body: "Hello", segments: 1, status: "queued")
            let answer = Locked<Int?>(nil)
            let (waiting, posted) = try await hooks.db.pool.transaction { connection in
                let waiting = try await connection.query(DeliveryStore.recordQuery([row])).firstRow().decode(
                    Bool.self, at: 0)
                let posted = Task {
                    let status = try await hooks.post("/twilio/messages/status", callback(message, "delivered")).status
                    answer.withLock { $0 = status }
                }
                // Hold the insert uncommitted until the callback has either been answered or is
                // waiting for this insert to commit.
                let settled = await eventually(timeout: .seconds(10)) {
                    if answer.value != nil { return true }
                    return try await hooks.db.integer(
                        Self.waitingOnStatusBuckets) > 0
                }
                #expect(settled)
                return (waiting, posted)
            }
            if waiting { try await StatusStore(pool: hooks.db.pool).applyPending(sids: [message]) }
            try await posted.value
            #expect(answer.value == 204)
            #expect(try await hooks.status(of: message) == "delivered")
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.pending_statuses") == 0)
            #expect(try await result(hooks.db, jobID)["messageStatus"] == .string("delivered"))
        }
    }

    /// The other order: the webhook is filing the status (uncommitted) when the insert looks.
    @Test func anInsertWhileACallbackIsBeingFiledSeesIt() async throws {
        try await WebhookHarness.with { hooks in
            let jobID = try await job(hooks.db)
            let message = sid("SM", 5)
            let recorded = Locked(false)
            let recording = try await hooks.db.pool.transaction { connection in
                // What StatusStore.apply does when it finds no row, stopped before its commit.
                try await connection.query("SELECT switchboard.lock_status_bucket(\(message))")
                try await connection.query(
                    """
                    INSERT INTO switchboard.pending_statuses (resource, account_id, sid, status)
                    VALUES ('message', \(hooks.accountID), \(message), 'delivered')
                    """)
                let recording = Task {
                    try await hooks.recordMessage(sid: message, jobID: jobID, to: "+15550002222")
                    recorded.withLock { $0 = true }
                }
                #expect(
                    await eventually(timeout: .seconds(10)) {
                        try await hooks.db.integer(
                            Self.waitingOnStatusBuckets) > 0
                    })
                #expect(!recorded.value)
                return recording
            }
            try await recording.value
            #expect(try await hooks.status(of: message) == "delivered")
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.pending_statuses") == 0)
        }
    }

    @Test func aCallbackThatOutrunsTheSendIsAppliedWhenTheSendIsRecorded() async throws {
        try await WebhookHarness.with { hooks in
            let jobID = try await job(hooks.db)
            let message = sid("SM", 3)
            let path = "/twilio/messages/status"
            #expect(try await hooks.post(path, callback(message, "sent")).status == 204)
            #expect(try await hooks.post(path, callback(message, "delivered")).status == 204)
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.pending_statuses") == 2)
            try await hooks.recordMessage(sid: message, jobID: jobID, to: "+15550002222")
            #expect(try await hooks.status(of: message) == "delivered")
            #expect(try await hooks.db.integer("SELECT count(*) FROM switchboard.pending_statuses") == 0)
            // The worker completes the job afterwards: its result keeps the newer status.
            let store = hooks.db.store
            let claimed = try await store.claim(
                queue: "default", kinds: ["noop"], limit: 1, workerID: "w", lease: .seconds(30))
            try await store.finish(
                [
                    JobFinish(
                        id: jobID, attempt: claimed[0].attempt,
                        transition: JobTransition.after(
                            .completed(result: #"{"messageSid": "\#(message)", "messageStatus": "queued"}"#),
                            attempt: 1,
                            maxAttempts: 3, policy: RetryPolicy(), unitRandom: 0.5))
                ],
                workerID: "w")
            let final = try await result(hooks.db, jobID)
            #expect(final["messageStatus"] == .string("delivered"))
            #expect(final["messageSid"] == .string(message))
        }
    }

    @Test func optOutAndDeadNumbersFeedTheSuppressionList() async throws {
        try await WebhookHarness.with { hooks in
            let path = "/twilio/messages/status"
            for (n, (to, code)) in [("+15550003001", 21610), ("+15550003002", 30005), ("+15550003003", 30003)]
                .enumerated()
            {
                let message = sid("SM", 100 + n)
                try await hooks.recordMessage(sid: message, jobID: nil, to: to, status: "sent")
                #expect(
                    try await hooks.post(path, callback(message, "undelivered", errorCode: code, to: to)).status == 204)
            }
            let deliveries = DeliveryStore(pool: hooks.db.pool)
            let suppressed = try await deliveries.suppressed([
                (hooks.accountID, "+15550003001", nil, nil), (hooks.accountID, "+15550003002", nil, nil),
                (hooks.accountID, "+15550003003", nil, nil),
            ])
            #expect(suppressed == [true, true, false], "30003 (handset off) is not the recipient's doing")
            let history = try await deliveries.consentHistory(accountID: hooks.accountID, address: "+15550003001")
            #expect(history.map(\.source) == ["twilio_error"])
            #expect(
                try await hooks.db.integer("SELECT error_code FROM switchboard.messages WHERE sid = \(sid("SM", 100))")
                    == 21610)
        }
    }

    @Test func callStatusesMoveForwardWithTheirDuration() async throws {
        try await WebhookHarness.with { hooks in
            let jobID = try await job(hooks.db)
            let call = sid("CA", 4)
            try await DeliveryStore(pool: hooks.db.pool).recordCall(
                sid: call, jobID: jobID, accountID: hooks.accountID, to: "+15550004444", from: "+14155550100",
                status: "queued", origin: "created")
            let path = "/twilio/calls/status"
            for (status, duration) in [("ringing", nil), ("completed", "42"), ("in-progress", nil)]
                as [(String, String?)]
            {
                var form: FormParameters = ["CallSid": call, "CallStatus": status, "AccountSid": accountSID]
                form.append("CallDuration", duration)
                #expect(try await hooks.post(path, form).status == 204)
            }
            let row = try await hooks.db.pool.query(
                "SELECT status, duration_s FROM switchboard.calls WHERE sid = \(call)")[0]
            #expect(try row.decode(String.self, at: 0) == "completed")
            #expect(try row.decode(Int.self, at: 1) == 42)
            let result = try await result(hooks.db, jobID)
            #expect(result["callStatus"] == .string("completed") && result["callDuration"] == .int(42))
            let bad: FormParameters = [
                "CallSid": call, "CallStatus": "completed", "CallDuration": "long", "AccountSid": accountSID,
            ]
            #expect(try await hooks.post(path, bad).status == 400)
        }
    }
}
