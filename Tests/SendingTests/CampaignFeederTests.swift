import Foundation
import Logging
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import TestSupport
import Testing

/// Issue 15, item 2: campaigns are fed, not materialised.
@Suite struct CampaignFeederTests {
    /// A campaign of `count` recipients (+1212555xxxx, in file order), capped at `rateCap`.
    func campaign(
        _ harness: SendingHarness, name: String, count: Int, rateCap: Double?
    ) async throws -> CampaignRecord {
        let account = try #require(try await harness.accounts.account(named: "main")).id
        let campaigns = CampaignStore(pool: harness.db.pool)
        try await campaigns.create(
            accountID: account, name: name, channel: .sms,
            template: PostgresJSON(text: #"{"account": "main", "from": "+15557654321", "body": "Hi {{n}}"}"#),
            rateCap: rateCap)
        let record = try #require(try await campaigns.campaign(accountID: account, name: name))
        try await importMore(harness, record, numbers: 0..<count)
        return record
    }

    /// Imports `numbers` (as `+1212555nnnn` with `n`) into an existing campaign.
    func importMore(_ harness: SendingHarness, _ campaign: CampaignRecord, numbers: Range<Int>) async throws {
        let csv =
            "phone,n\n" + numbers.map { "+1212555\(String(format: "%04d", $0)),\($0)" }.joined(separator: "\n")
        let path = NSTemporaryDirectory() + "feed-\(UInt32.random(in: 0...UInt32.max)).csv"
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let report = try await CampaignImport(campaigns: CampaignStore(pool: harness.db.pool)).run(
            path: path, campaign: campaign)
        #expect(report.counts.queued == numbers.count)
    }

    func feeder(_ harness: SendingHarness, lookahead: Duration) -> CampaignFeeder {
        CampaignFeeder(
            campaigns: CampaignStore(pool: harness.db.pool), lookahead: lookahead, logger: Logger(label: "test"))
    }

    /// The `n` values of the campaign's jobs, in job order.
    func fedNumbers(_ harness: SendingHarness, _ campaign: CampaignRecord) async throws -> [Int] {
        try await harness.db.pool.query(
            """
            SELECT substring(payload->>'body' FROM 4)::int FROM switchboard.all_jobs
            WHERE (payload->>'campaignId')::bigint = \(campaign.id) ORDER BY id
            """
        ).map { try $0.decode(Int.self, at: 0) }
    }

    @Test func theQueueHoldsNoMoreThanTheLookaheadAndJobsComeInFileOrderAtThePace() async throws {
        try await SendingHarness.idle { harness in
            let campaign = try await campaign(harness, name: "paced", count: 100, rateCap: 10)
            let feeder = feeder(harness, lookahead: .seconds(2))
            try await feeder.feedOnce()
            // 10/s with a 2 s look-ahead: 20 live jobs at most.
            #expect(try await fedNumbers(harness, campaign) == Array(0..<20))
            let spread = try await harness.db.pool.query(
                """
                SELECT extract(epoch FROM max(run_at) - min(run_at))::float8,
                       extract(epoch FROM min(run_at) - now())::float8, count(*) FILTER (WHERE state = 'available')
                FROM switchboard.all_jobs
                """
            ).firstRow()
            #expect(abs(try spread.decode(Double.self, at: 0) - 1.9) < 0.001, "20 jobs at 10/s")
            #expect(try spread.decode(Double.self, at: 1) > -1, "spread from now")
            #expect(try spread.decode(Int.self, at: 2) == 20, "all within the horizon: available")
            try await feeder.feedOnce()
            #expect(try await harness.db.jobCount() == 20, "full: nothing more until some are sent")

            // 15 sent: room for 15 more, due after the first 20.
            try await harness.db.pool.query(
                """
                UPDATE switchboard.jobs SET state = 'completed', finished_at = now()
                WHERE id IN (SELECT id FROM switchboard.jobs ORDER BY id LIMIT 15)
                """)
            try await feeder.feedOnce()
            #expect(try await fedNumbers(harness, campaign) == Array(0..<35))
            let gap = try await harness.db.pool.query(
                """
                SELECT extract(epoch FROM min(run_at) FILTER (WHERE substring(payload->>'body' FROM 4)::int = 20)
                                         - max(run_at) FILTER (WHERE substring(payload->>'body' FROM 4)::int = 19))::float8
                FROM switchboard.all_jobs
                """
            ).firstRow().decode(Double.self, at: 0)
            #expect(abs(gap - 0.1) < 0.001, "the pace goes on where it left off")
            let progress = try #require(try await CampaignStore(pool: harness.db.pool).progress(id: campaign.id))
            #expect(progress.fed == 35 && progress.pending == 65 && progress.pace == 10)
        }
    }

    /// Recipients added to a campaign after feeding began are fed, whichever connection of the
    /// pool ran the earlier imports. (An identity `seq` cached 1,000 values per session: a later
    /// import on the connection of the first took values below the feeder's cursor, and those
    /// recipients were never fed.)
    @Test func recipientsAddedLaterAreFedWhicheverConnectionImportedBefore() async throws {
        try await SendingHarness.idle { harness in
            let pool = harness.db.pool
            let campaign = try await campaign(harness, name: "appended", count: 3, rateCap: nil)
            // The pool lends its most recently returned connection: holding it makes the second
            // import run on another one, and the third runs on the first's again.
            try await pool.withConnection { _ in try await importMore(harness, campaign, numbers: 10..<13) }
            let feeder = feeder(harness, lookahead: .seconds(60))
            try await feeder.feedOnce()
            #expect(try await fedNumbers(harness, campaign).sorted() == [0, 1, 2, 10, 11, 12])
            try await importMore(harness, campaign, numbers: 20..<23)
            try await feeder.feedOnce()
            #expect(try await fedNumbers(harness, campaign).sorted() == [0, 1, 2, 10, 11, 12, 20, 21, 22])
            #expect(try await fedNumbers(harness, campaign) == [0, 1, 2, 10, 11, 12, 20, 21, 22], "imports in order")
        }
    }

    @Test func pauseStopsFeedingResumeGoesOnAndCancelFeedsNoMore() async throws {
        try await SendingHarness.idle { harness in
            let campaign = try await campaign(harness, name: "held", count: 30, rateCap: 1)
            let campaigns = CampaignStore(pool: harness.db.pool)
            let feeder = feeder(harness, lookahead: .seconds(600))
            try await campaigns.setState(id: campaign.id, .paused)
            try await feeder.feedOnce()
            #expect(try await harness.db.jobCount() == 0)
            try await campaigns.setState(id: campaign.id, .active)
            try await feeder.feedOnce()
            // 1/s: the jobs due within the scheduling horizon (5 s).
            #expect(try await fedNumbers(harness, campaign) == Array(0..<5))
            try await campaigns.cancel(id: campaign.id)
            try await feeder.feedOnce()
            #expect(try await harness.db.jobCount() == 5)
            #expect(try await harness.db.jobCount(state: "cancelled") == 5)
        }
    }

    @Test func twoFeedersNeverFeedARecipientTwice() async throws {
        try await SendingHarness.idle { harness in
            let campaign = try await campaign(harness, name: "shared", count: 3000, rateCap: 400)
            // Four feeders (four hosts), each passing until nothing is left.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let feeder = feeder(harness, lookahead: .seconds(3600))
                        for _ in 0..<40 {
                            try await feeder.feedOnce()
                            try await Task.sleep(for: .milliseconds(Int.random(in: 0...30)))
                        }
                    }
                }
                // Meanwhile the pace's window moves on: let fed jobs be due at once.
                group.addTask {
                    for _ in 0..<40 {
                        try await harness.db.pool.query(
                            "UPDATE switchboard.campaign_feeds SET next_run_at = now() WHERE campaign_id = \(campaign.id)"
                        )
                        try await Task.sleep(for: .milliseconds(25))
                    }
                }
                try await group.waitForAll()
            }
            let numbers = try await fedNumbers(harness, campaign)
            #expect(numbers.count == Set(numbers).count, "no recipient fed twice")
            #expect(numbers == numbers.sorted(), "in file order")
            let progress = try #require(try await CampaignStore(pool: harness.db.pool).progress(id: campaign.id))
            #expect(progress.fed == numbers.count && numbers.count > 2000)
        }
    }

    /// A feeder that dies mid-pass (its transaction holds the campaign's feed row and has written
    /// jobs) leaves nothing behind, and the next pass resumes from the cursor.
    @Test func aFeederThatDiesMidPassLeavesNothingAndTheNextResumes() async throws {
        try await SendingHarness.idle { harness in
            let campaign = try await campaign(harness, name: "crash", count: 50, rateCap: 1000)
            let feeder = feeder(harness, lookahead: .seconds(3600))
            let dying = PostgresPool(configuration: harness.db.configuration, options: .init(maxConnections: 1))
            try await dying.withConnection { connection in
                try await connection.query("BEGIN")
                try await connection.query(
                    "SELECT 1 FROM switchboard.campaign_feeds WHERE campaign_id = \(campaign.id) FOR UPDATE")
                try await connection.query(
                    """
                    INSERT INTO switchboard.jobs (kind, payload)
                    SELECT 'sms', payload_json FROM switchboard.campaign_recipients WHERE campaign_id = \(campaign.id)
                    """)
                let pid = await connection.backendPID()
                // Another host's pass skips the campaign while the first holds it…
                try await feeder.feedOnce()
                #expect(try await harness.db.jobCount() == 0)
                // …then the first dies: its transaction rolls back.
                try await harness.db.pool.query("SELECT pg_terminate_backend(\(Int(pid)))")
                #expect(
                    await eventually {
                        try await harness.db.integer("SELECT count(*) FROM pg_stat_activity WHERE pid = \(Int(pid))")
                            == 0
                    })
            }
            await dying.close()
            // …and the next pass feeds every recipient once, from the cursor.
            try await feeder.feedOnce()
            #expect(try await fedNumbers(harness, campaign) == Array(0..<50))
        }
    }

    @Test func aCampaignFinishesWhenEveryRecipientIsFedAndSent() async throws {
        try await SendingHarness.idle { harness in
            let campaign = try await campaign(harness, name: "done", count: 3, rateCap: nil)
            let campaigns = CampaignStore(pool: harness.db.pool)
            // Someone subscribed to campaign.finished (issue 13).
            let vault = try CredentialVault(keySpecification: CredentialVault.generateKeySpecification())
            _ = try await EventStore(pool: harness.db.pool, vault: vault).subscribe(
                url: "http://127.0.0.1:9/hook", eventTypes: ["campaign.finished"], account: nil,
                secret: "whsec_" + Data(repeating: 7, count: 32).base64EncodedString())
            let feeder = feeder(harness, lookahead: .seconds(60))
            try await feeder.feedOnce()
            #expect(try await harness.db.jobCount() == 3)
            try await feeder.feedOnce()
            #expect(try await campaigns.progress(id: campaign.id)?.finishedAt == nil, "its jobs are still live")
            try await harness.db.pool.query("UPDATE switchboard.jobs SET state = 'completed', finished_at = now()")
            try await feeder.feedOnce()
            #expect(try await campaigns.progress(id: campaign.id)?.finishedAt != nil)
            #expect(try await campaigns.campaignsToFeed().isEmpty)
            try await feeder.feedOnce()
            let finished = try await harness.db.pool.query(
                "SELECT subject, data ->> 'recipients', data ->> 'name' FROM switchboard.events WHERE type = 'campaign.finished'"
            )
            #expect(finished.count == 1, "once")
            #expect(try finished.first?.decode(String.self, at: 0) == "campaign:\(campaign.id)")
            #expect(try finished.first?.decode(String.self, at: 1) == "3")
            #expect(try finished.first?.decode(String.self, at: 2) == "done")
        }
    }

    /// Issue 15, item 3: a campaign's finished jobs leave the hot table; its status counts them
    /// from the counters the archiver keeps, plus what is still hot, and a retried one moves
    /// from failed back to waiting.
    @Test func campaignStatusCountsJobsMovedToHistory() async throws {
        try await SendingHarness.idle { harness in
            let campaign = try await campaign(harness, name: "archived", count: 12, rateCap: nil)
            let campaigns = CampaignStore(pool: harness.db.pool)
            try await feeder(harness, lookahead: .seconds(60)).feedOnce()
            try await harness.db.pool.query(
                """
                UPDATE switchboard.jobs SET finished_at = now() - interval '5 minutes',
                    state = CASE WHEN id % 4 = 0 THEN 'failed' ELSE 'completed' END::switchboard.job_state
                WHERE id IN (SELECT id FROM switchboard.jobs ORDER BY id LIMIT 10)
                """)
            let failed = try await harness.db.integer(
                "SELECT count(*) FROM switchboard.jobs WHERE state = 'failed'")
            let store = JobStore(pool: harness.db.pool)
            #expect(try await store.archive(finishedMoreThan: .seconds(60)) == 10)
            #expect(try await harness.db.integer("SELECT count(*) FROM switchboard.jobs") == 2)
            let status = try await campaigns.status(id: campaign.id).jobs
            #expect(status == ["completed": 10 - failed, "failed": failed, "available": 2])

            let failedID = try await harness.db.integer(
                "SELECT min(id) FROM switchboard.job_history WHERE state = 'failed'")
            #expect(try await store.retry(ids: [Int64(failedID)]) == [Int64(failedID)])
            let afterRetry = try await campaigns.status(id: campaign.id).jobs
            #expect(
                afterRetry == ["completed": 10 - failed, "failed": failed - 1, "available": 3].filter { $0.value > 0 })
        }
    }

    /// Recipients have no per-row foreign key (it cost a quarter of a large import): deleting a
    /// campaign deletes them by a statement trigger, and an import into a campaign that is gone
    /// is refused, writing nothing.
    @Test func aDeletedCampaignTakesItsRecipientsAndTakesNoMore() async throws {
        try await SendingHarness.idle { harness in
            let gone = try await campaign(harness, name: "gone", count: 20, rateCap: nil)
            let kept = try await campaign(harness, name: "kept", count: 5, rateCap: nil)
            try await harness.db.pool.query("DELETE FROM switchboard.campaigns WHERE id = \(gone.id)")
            #expect(try await harness.db.integer("SELECT count(*) FROM switchboard.campaign_recipients") == 5)
            #expect(try await CampaignStore(pool: harness.db.pool).progress(id: kept.id)?.recipients == 5)
            let rows = AsyncStream<[UInt8]> { continuation in
                continuation.yield(Array("2\t+12125550100\t{}\n".utf8))
                continuation.finish()
            }
            await #expect(throws: InputError.self) {
                try await CampaignStore(pool: harness.db.pool).importRecipients(
                    campaignID: gone.id, accountID: gone.accountID, rows: rows)
            }
            #expect(try await harness.db.integer("SELECT count(*) FROM switchboard.campaign_recipients") == 5)
        }
    }

    /// Imports are inserted a batch at a time while the next is read: across batches the first
    /// line of a repeated recipient still wins, opt-outs are found, the feeder sends in file order,
    /// and a source that fails after some batches were inserted leaves nothing behind.
    @Test func anImportInBatchesKeepsFirstLinesAndFileOrderAndAFailureLeavesNothing() async throws {
        try await SendingHarness.idle { harness in
            let pool = harness.db.pool
            let store = CampaignStore(pool: pool)
            let campaign = try await campaign(harness, name: "batched", count: 0, rateCap: nil)
            try await pool.query(
                """
                INSERT INTO switchboard.suppressions (account_id, address, reason, source)
                VALUES (\(campaign.accountID), '+12125550007', 'STOP', 'keyword')
                """)
            // Lines 2…21: recipients 0…9, then 0…9 again (each a duplicate of an earlier batch's).
            let lines = (0..<20).map { index in
                "\(index + 2)\t+1212555\(String(format: "%04d", index % 10))\t"
                    + #"{"campaignId": \#(campaign.id), "account": "main", "from": "+15557654321", "to": "+1212555"#
                    + String(format: "%04d", index % 10) + #"", "body": "Hi \#(index)"}"# + "\n"
            }
            // Three rows per chunk, and a batch as soon as a chunk is in: seven batches.
            let rows = AsyncStream<[UInt8]> { continuation in
                for start in stride(from: 0, to: lines.count, by: 3) {
                    continuation.yield(Array(lines[start..<min(start + 3, lines.count)].joined().utf8))
                }
                continuation.finish()
            }
            let counts = try await store.importRecipients(
                campaignID: campaign.id, accountID: campaign.accountID, rows: rows, batchBytes: 1)
            #expect(counts.queued == 9)
            #expect(counts.optedOut == 1)
            #expect(counts.duplicates == 10)
            try await feeder(harness, lookahead: .seconds(60)).feedOnce()
            #expect(try await fedNumbers(harness, campaign) == [0, 1, 2, 3, 4, 5, 6, 8, 9], "first lines, file order")

            // A source that fails after two batches: the import is rolled back whole.
            struct Unreadable: Error {}
            let failing = AsyncThrowingStream<[UInt8], any Error> { continuation in
                continuation.yield(Array("30\t+12125550100\t{}\n".utf8))
                continuation.yield(Array("31\t+12125550101\t{}\n".utf8))
                continuation.finish(throwing: Unreadable())
            }
            let before = try await harness.db.integer("SELECT count(*) FROM switchboard.campaign_recipients")
            await #expect(throws: Unreadable.self) {
                try await store.importRecipients(
                    campaignID: campaign.id, accountID: campaign.accountID, rows: failing, batchBytes: 1)
            }
            #expect(try await harness.db.integer("SELECT count(*) FROM switchboard.campaign_recipients") == before)
            #expect(try await store.progress(id: campaign.id)?.recipients == 9)
        }
    }

    /// Recipients imported before migration 0022 carry their payload as jsonb, later ones as the
    /// JSON text the import rendered: the feeder makes jobs of both, in order.
    @Test func recipientsImportedBeforeThePayloadBecameTextAreFedToo() async throws {
        try await SendingHarness.idle { harness in
            let campaign = try await campaign(harness, name: "upgraded", count: 2, rateCap: nil)
            try await harness.db.pool.query(
                """
                INSERT INTO switchboard.campaign_recipients (campaign_id, recipient, line, status, payload, seq)
                VALUES (\(campaign.id), '+12125559999', 1, 'pending',
                        jsonb_build_object('campaignId', \(campaign.id)::bigint, 'channel', 'sms', 'account', 'main',
                                           'to', '+12125559999', 'from', '+15557654321', 'body', 'Hi 7'), 1)
                """)
            try await harness.db.pool.query(
                "UPDATE switchboard.campaign_feeds SET recipients = recipients + 1 WHERE campaign_id = \(campaign.id)")
            try await feeder(harness, lookahead: .seconds(60)).feedOnce()
            #expect(try await fedNumbers(harness, campaign) == [7, 0, 1], "the old row's seq is below the import's")
        }
    }

    @Test func thePlanKeepsToThePaceTheHorizonAndTheLookahead() {
        let plan = CampaignFeedPlan(pace: 10, lookahead: .seconds(60), batch: 5000)
        #expect(plan.capacity == 600)
        #expect(plan.count(live: 0, nextDueIn: .zero) == 50, "5 s of the horizon at 10/s")
        #expect(plan.count(live: 0, nextDueIn: .seconds(3)) == 20)
        #expect(plan.count(live: 0, nextDueIn: .seconds(7)) == 0)
        #expect(plan.count(live: 590, nextDueIn: .zero) == 10)
        #expect(plan.count(live: 700, nextDueIn: .zero) == 0)
        let fast = CampaignFeedPlan(pace: 100_000, lookahead: .seconds(60), batch: 5000)
        #expect(fast.count(live: 0, nextDueIn: .zero) == 5000, "a batch per pass")
        let unpaced = CampaignFeedPlan(pace: nil, lookahead: .seconds(60), batch: 5000)
        #expect(unpaced.capacity == 5000 && unpaced.count(live: 1000, nextDueIn: .zero) == 4000)
        let slow = CampaignFeedPlan(pace: 0.01, lookahead: .seconds(1), batch: 5000)
        #expect(slow.capacity == 1)
    }
}
