import Foundation
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import TestSupport
import Testing
import TwilioSimulator

@Suite(.serialized, .wallClockLane, .tags(.wallClock)) struct RateLimitTests {
    /// Sends through a pool of two numbers at 5 segments/s each: the simulator's receive times
    /// show each number within its rate, and the whole batch takes as long as the capacity says.
    @Test func aPoolSendsWithinEachNumbersRate() async throws {
        try await SendingHarness.with { harness, _ in
            let account = try #require(try await harness.accounts.account(named: "main")).id
            let senders = SenderStore(pool: harness.db.pool)
            let a = try await senders.addSender(accountID: account, address: "+14155550001", kind: .longCode, rate: 2)
            let b = try await senders.addSender(accountID: account, address: "+14155550002", kind: .longCode, rate: 2)
            try await senders.createPool(accountID: account, name: "promo", senderIDs: [a, b])
            var ids: [Int64] = []
            for n in 0..<16 {
                var request = MessageRequest(
                    account: "main", to: "+1212555\(String(format: "%04d", n))", body: "Sale \(n)")
                request.pool = "promo"
                ids.append(try await SendJobs.enqueue(request, channel: .sms, store: harness.db.store).id)
            }
            for id in ids { #expect(try await harness.finished(id).state == .completed) }
            let attempts = try await harness.db.integer("SELECT max(attempt) FROM switchboard.all_jobs")
            #expect(attempts == 1, "waiting for a slot never consumes an attempt")
            let messages = await harness.simulator.messages()
            #expect(messages.count == 16)
            for sender in ["+14155550001", "+14155550002"] {
                let times = messages.filter { $0.resource.from == sender }.map(\.receivedAt).sorted()
                #expect(times.count >= 5, "both numbers were used")
                // In any one-second window a number sends at most its rate (plus one at the boundary).
                for (index, start) in times.enumerated() {
                    let inWindow = times[index...].prefix { $0 - start < .seconds(1) }.count
                    #expect(inWindow <= 3, "\(sender): \(inWindow) messages within one second")
                }
            }
            let all = messages.map(\.receivedAt).sorted()
            let span = (all.last! - all.first!).seconds
            // 16 messages at 4/s in all: the last slot is 3.5 s after the first; a send may leave up
            // to half an interval (0.25 s) after its slot, never before it.
            #expect(span > 3.0, "took \(span) s")
        }
    }

    @Test func aSaturatedSenderDefersWithoutConsumingAttempts() async throws {
        try await SendingHarness.with { harness, _ in
            let account = try #require(try await harness.accounts.account(named: "main")).id
            try await SenderStore(pool: harness.db.pool).addSender(
                accountID: account, address: "+15557654321", kind: .longCode, rate: 2)
            var ids: [Int64] = []
            for n in 0..<8 { ids.append(try await harness.sms("+1212555\(String(format: "%04d", n))", "Hi \(n)")) }
            for id in ids { #expect(try await harness.finished(id).state == .completed) }
            let times = await harness.simulator.messages().map(\.receivedAt).sorted()
            for (index, start) in times.enumerated() {
                let inWindow = times[index...].prefix { $0 - start < .seconds(1) }.count
                #expect(inWindow <= 3, "at most 2 per second (plus one at the boundary): \(inWindow)")
            }
            let span = (times.last! - times.first!).seconds
            #expect(
                span > 3.0,
                "8 messages at 2/s: the last slot is 3.5 s after the first, less the first send's allowed lateness (0.25 s) and HTTP jitter: \(span)"
            )
            let attempts = try await harness.db.integer("SELECT max(attempt) FROM switchboard.all_jobs")
            #expect(attempts == 1)
        }
    }

    @Test func callsRespectTheAccountsCallsPerSecond() async throws {
        try await SendingHarness.with { harness, _ in
            let account = try #require(try await harness.accounts.account(named: "main")).id
            try await harness.accounts.setCallsPerSecond(accountID: account, 2)
            var ids: [Int64] = []
            for n in 0..<6 {
                let request = VoiceRequest(
                    account: "main", to: "+1212555000\(n)", from: "+15557654321", message: "Reminder \(n)")
                ids.append(try await SendJobs.enqueue(request, store: harness.db.store).id)
            }
            for id in ids { #expect(try await harness.finished(id).state == .completed) }
            let times = await harness.simulator.calls().map(\.receivedAt).sorted()
            #expect(times.count == 6)
            for (index, start) in times.enumerated() {
                let inWindow = times[index...].prefix { $0 - start < .seconds(1) }.count
                #expect(inWindow <= 3, "2 calls per second (plus one at the boundary): \(inWindow)")
            }
            #expect(
                (times.last! - times.first!).seconds > 2.0,
                "6 calls at 2/s: the last slot is 2.5 s after the first, less up to half an interval and HTTP jitter")
            let attempts = try await harness.db.integer("SELECT max(attempt) FROM switchboard.all_jobs")
            #expect(attempts == 1)
        }
    }

    @Test func unknownPoolsFailByName() async throws {
        try await SendingHarness.with { harness, _ in
            var request = MessageRequest(account: "main", to: "+12125550000", body: "x")
            request.pool = "nope"
            let id = try await SendJobs.enqueue(request, channel: .sms, store: harness.db.store).id
            let job = try await harness.finished(id)
            #expect(job.state == .failed)
            #expect(job.errors.first?.error == "pool: account has no pool named 'nope'")
        }
    }
}
