import Foundation
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import TestSupport
import Testing
import TwilioSimulator

/// Issue 15, item 4: SMS to US carriers paced by the A2P 10DLC registration. The simulator plays
/// the carriers: a message over a carrier's limit is accepted and then fails (30022 over a rate,
/// 30023 over the daily cap), as at Twilio, so a test can see a violation.
@Suite struct CarrierPacingTests {
    /// A brand and campaign of `class` (with overrides), the sender `+15557654321` (or `pool`)
    /// assigned to it.
    func register(
        _ harness: SendingHarness, tmobilePerDay: Int? = nil, perMinute: Int? = nil, pool: [String]? = nil
    ) async throws -> Int64 {
        let account = try #require(try await harness.accounts.account(named: "main")).id
        let senders = SenderStore(pool: harness.db.pool)
        let carriers = CarrierStore(pool: harness.db.pool)
        try await carriers.saveBrand(
            accountID: account, name: "acme", className: "standard_75", tmobilePerDay: tmobilePerDay)
        try await carriers.saveCampaign(
            accountID: account, brand: "acme", name: "marketing", className: "standard_75",
            perCarrierPerMinute: perMinute, minorCarrierPerMinute: nil)
        if let pool {
            var ids: [Int64] = []
            for address in pool {
                ids.append(try await senders.addSender(accountID: account, address: address, kind: .longCode, rate: 50))
            }
            try await senders.createPool(accountID: account, name: "promo", senderIDs: ids)
            #expect(
                try await carriers.assign(
                    accountID: account, brand: "acme", campaign: "marketing", pool: "promo", number: nil))
        } else {
            _ = try await senders.addSender(accountID: account, address: "+15557654321", kind: .longCode, rate: 50)
            #expect(
                try await carriers.assign(
                    accountID: account, brand: "acme", campaign: "marketing", pool: nil, number: "+15557654321"))
        }
        return account
    }

    /// A T-Mobile number (the simulator's default carriers go by the last digit: 4–6).
    func tmobile(_ n: Int) -> String { "+1212555\(String(format: "%03d", n))4" }
    func att(_ n: Int) -> String { "+1212555\(String(format: "%03d", n))0" }
    func verizon(_ n: Int) -> String { "+1212555\(String(format: "%03d", n))7" }

    @Test func overTheDailyCapWaitsForTheNextPacificDayAndNothingFailsAtTheCarrier() async throws {
        try await SendingHarness.with(simulator: { $0.carrierLimits = [.tmobile: .init(perDay: 5)] }) { harness, _ in
            _ = try await register(harness, tmobilePerDay: 5)
            var tmobileJobs: [Int64] = []
            for n in 0..<8 { tmobileJobs.append(try await harness.sms(tmobile(n), "Sale \(n)")) }
            var attJobs: [Int64] = []
            for n in 0..<4 { attJobs.append(try await harness.sms(att(n), "Sale \(n)")) }
            for id in attJobs { #expect(try await harness.finished(id).state == .completed) }
            // Five go out today; three wait for midnight Pacific, snoozed (no attempt used).
            #expect(
                await eventually(timeout: .seconds(20)) {
                    try await harness.db.integer(
                        "SELECT count(*) FROM switchboard.all_jobs WHERE kind = 'sms' AND state = 'completed'") == 9
                })
            let waiting = try await harness.db.pool.query(
                """
                SELECT state::text, metadata -> 'carrierHeld' ->> 'cap', attempt,
                       abs(extract(epoch FROM run_at - (((now() AT TIME ZONE 'America/Los_Angeles')::date + 1)::timestamp
                                                        AT TIME ZONE 'America/Los_Angeles')))::float8
                FROM switchboard.jobs WHERE id = ANY(\(tmobileJobs)::bigint[]) AND state <> 'completed'
                """)
            #expect(waiting.count == 3)
            for row in waiting {
                #expect(try row.decode(String.self, at: 0) == "scheduled")
                #expect(try row.decode(String?.self, at: 1) == "per_day")
                #expect(try row.decode(Int.self, at: 2) == 0, "waiting for a carrier's window uses no attempt")
                #expect(try row.decode(Double.self, at: 3) < 5, "due at the next Pacific midnight")
            }
            let messages = await harness.simulator.messages()
            #expect(messages.count == 9)
            #expect(messages.filter { $0.resource.errorCode == 30023 }.isEmpty)

            // What `a2p status` shows: T-Mobile's count against the cap, and who waits for it.
            let carriers = CarrierStore(pool: harness.db.pool)
            let tmobileBudget = try #require(try await carriers.budgets().first { $0.carrier == "tmobile" })
            #expect(tmobileBudget.today == 5)
            #expect(tmobileBudget.dailyCap == 5)
            #expect(tmobileBudget.mps == 75)
            let held = try await carriers.held()
            #expect(held.map(\.carrier) == ["tmobile"])
            #expect(held.map(\.jobs) == [3])

            // Each number was looked up once, and is not looked up again.
            #expect(await harness.simulator.lookups() == 12)
            let again = try await harness.sms(att(0), "Again")
            #expect(try await harness.finished(again).state == .completed)
            #expect(await harness.simulator.lookups() == 12)
            #expect(
                try await harness.db.integer(
                    "SELECT count(*) FROM switchboard.carrier_lookups WHERE carrier = 'tmobile'") == 8)
        }
    }

    /// A carrier loaded by the user (as the README shows, with COPY or INSERT) is used as it is:
    /// no Lookup is paid for it, and it decides the budget (here T-Mobile's cap, for a number the
    /// simulator would have put on AT&T).
    @Test func carriersLoadedByTheUserAreUsedWithoutALookup() async throws {
        try await SendingHarness.with(simulator: { $0.carrierLimits = [.tmobile: .init(perDay: 1)] }) { harness, _ in
            _ = try await register(harness, tmobilePerDay: 1)
            let numbers = [att(1), att(2)]
            try await harness.db.pool.query(
                """
                INSERT INTO switchboard.carrier_lookups (phone, carrier, carrier_name)
                SELECT unnest(\(numbers)::text[]), 'tmobile', 'T-Mobile USA, Inc.'
                """)
            // Either may book first: one goes out, the other waits for the next Pacific day.
            let jobs = [try await harness.sms(numbers[0], "One"), try await harness.sms(numbers[1], "Two")]
            #expect(
                await eventually(timeout: .seconds(20)) {
                    try await harness.db.integer(
                        """
                        SELECT count(*) FILTER (WHERE state = 'completed') * 10 + count(*) FILTER (WHERE state = 'scheduled')
                        FROM switchboard.all_jobs WHERE id = ANY(\(jobs)::bigint[])
                        """) == 11
                }, "one sent, one waiting for the next Pacific day")
            #expect(await harness.simulator.lookups() == 0)
            #expect(await harness.simulator.messages().count == 1)
        }
    }

    /// Past days' counts and carriers cached too long go; today's and fresh ones stay.
    @Test func pruningKeepsWhatPacingStillUses() async throws {
        try await SendingHarness.idle { harness in
            _ = try await register(harness)
            let db = harness.db.pool
            try await db.query(
                """
                INSERT INTO switchboard.brand_daily_counts (brand_id, carrier, day, segments)
                SELECT id, 'tmobile', (now() AT TIME ZONE 'America/Los_Angeles')::date - d, 5
                FROM switchboard.brands, generate_series(0, 3) d
                """)
            try await db.query(
                """
                INSERT INTO switchboard.carrier_lookups (phone, carrier, looked_up_at)
                VALUES ('+12125550100', 'att', now() - interval '40 days'), ('+12125550101', 'att', now())
                """)
            #expect(try await CarrierStore(pool: db).prune(lookupsOlderThan: .seconds(30 * 86_400)) == 1)
            #expect(try await harness.db.integer("SELECT count(*) FROM switchboard.brand_daily_counts") == 2)
            #expect(
                try await harness.db.integer(
                    "SELECT count(*) FROM switchboard.carrier_lookups WHERE phone = '+12125550101'")
                    == 1)
        }
    }

    /// A number with no registered campaign is not paced (and its recipients are not looked up):
    /// the simulated T-Mobile then fails what is over its cap, as it would at Twilio.
    @Test func anUnregisteredNumberIsNotPaced() async throws {
        try await SendingHarness.with(simulator: { $0.carrierLimits = [.tmobile: .init(perDay: 1)] }) { harness, _ in
            let account = try #require(try await harness.accounts.account(named: "main")).id
            _ = try await SenderStore(pool: harness.db.pool).addSender(
                accountID: account, address: "+15557654321", kind: .longCode, rate: 50)
            let first = try await harness.sms(tmobile(1), "One")
            let second = try await harness.sms(tmobile(2), "Two")
            #expect(try await harness.finished(first).state == .completed)
            #expect(try await harness.finished(second).state == .completed)
            #expect(await harness.simulator.lookups() == 0, "no registration: no lookup, no pacing")
            #expect(
                await eventually {
                    await harness.simulator.messages().contains { $0.resource.errorCode == 30023 }
                })
        }
    }
}

/// The per-minute budgets, at the simulator: a wall-clock test (the carriers' window is scaled
/// from a minute to 6 s, budget and all, through the same code).
@Suite(.serialized, .wallClockLane, .tags(.wallClock)) struct CarrierBudgetTimingTests {
    @Test func noCarrierWindowEverHoldsMoreThanItsBudget() async throws {
        let window: Duration = .seconds(6)
        // 100 per minute = 10 per 6 s to AT&T and to Verizon; the simulator fails the 11th (30022).
        try await SendingHarness.idle(simulator: {
            $0.carrierLimits = [
                .att: .init(segments: 10, window: window), .verizon: .init(segments: 10, window: window),
            ]
        }) { harness in
            let pacing = CarrierPacingTests()
            _ = try await pacing.register(harness, perMinute: 100, pool: ["+14155550001", "+14155550002"])
            var jobs: [Int64] = []
            for n in 0..<16 {
                var request = MessageRequest(account: "main", to: pacing.att(n), body: "Sale \(n)")
                request.pool = "promo"
                jobs.append(try await SendJobs.enqueue(request, channel: .sms, store: harness.db.store).id)
            }
            for n in 0..<8 {
                var request = MessageRequest(account: "main", to: pacing.verizon(n), body: "Sale \(n)")
                request.pool = "promo"
                jobs.append(try await SendJobs.enqueue(request, channel: .sms, store: harness.db.store).id)
            }
            let states = try await harness.runningWorker(carrierWindow: window) { _ in
                var states: [JobState] = []
                for id in jobs { states.append(try await harness.finished(id).state) }
                return states
            }
            #expect(states.allSatisfy { $0 == .completed })
            let messages = await harness.simulator.messages()
            #expect(messages.count == 24)
            #expect(messages.filter { $0.resource.errorCode == 30022 }.isEmpty, "no carrier window over budget")
            #expect(try await harness.db.integer("SELECT max(attempt) FROM switchboard.all_jobs") == 1)
            // And by the simulator's clock: at most 10 AT&T messages left in any 6 s.
            let times = messages.filter { $0.carrier == .att }.map(\.sendAt).sorted()
            for (index, start) in times.enumerated() {
                #expect(times[index...].prefix { $0 - start < window }.count <= 10)
            }
            // 16 at 10 per 8 s (the window plus the 2 s a send may follow its slot): the last
            // went out at least 12 s after the first; unpaced, all within a second.
            #expect((times.last! - times.first!).seconds >= 11.5)
        }
    }
}
