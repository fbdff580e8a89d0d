import Foundation
import Postgres
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import SwitchboardWorker
import TestSupport
import Testing
import Twilio
import TwilioSimulator

/// The whole loop over real HTTP: a worker sends through the simulator, asking for status
/// callbacks at the webhook; the simulator posts them signed, like Twilio; the job's result ends
/// with the delivery outcome.
@Suite struct EndToEndDeliveryTests {
    @Test func statusCallbacksReachTheJobsResult() async throws {
        try await WebhookHarness.with(.live) { (hooks: WebhookHarness) async throws in
            var configuration = SimulatorConfiguration()
            configuration.accounts = [accountSID: authToken]
            configuration.callbackStep = .milliseconds(20)
            configuration.outcomes = ["+15550008002": .undelivered(code: 30003), "+15550008003": .failed(code: 30006)]
            let simulator = TwilioSimulator(configuration: configuration)
            let server = try await simulator.start()
            defer { server.stop() }
            let (_, handlers) = sendingThrough(
                simulator, accounts: hooks.accounts, pool: hooks.db.pool, webhookBaseURL: hooks.address + "/")
            let ids = try await withWorker(hooks.db, handlers: handlers) { _ in
                var ids: [Int64] = []
                for n in 1...3 {
                    ids.append(
                        try await SendJobs.enqueue(
                            MessageRequest(
                                account: "main", to: "+1555000800\(n)", from: "+15557654321", body: "Hi \(n)"),
                            channel: .sms, store: hooks.db.store
                        ).id)
                }
                let settled = await eventually(timeout: .seconds(20)) {
                    try await hooks.db.integer(
                        "SELECT count(*) FROM switchboard.messages WHERE status IN ('delivered', 'undelivered', 'failed')"
                    )
                        == 3
                }
                #expect(settled)
                _ = await eventually(timeout: .seconds(10)) {
                    try await hooks.db.jobCount(state: "completed") == 3
                }
                return ids
            }
            func result(_ id: Int64) async throws -> [String: JSONValue] {
                try await hooks.db.store.job(id: id)?.result?.decode([String: JSONValue].self) ?? [:]
            }
            #expect(try await result(ids[0])["messageStatus"] == .string("delivered"))
            #expect(try await result(ids[1])["messageStatus"] == .string("undelivered"))
            #expect(try await result(ids[1])["errorCode"] == .int(30003))
            #expect(try await result(ids[2])["messageStatus"] == .string("failed"))
            // 30006 (a landline) is suppressed; 30003 (handset off) is not.
            let suppressed = try await DeliveryStore(pool: hooks.db.pool).suppressed([
                (hooks.accountID, "+15550008002", nil, nil), (hooks.accountID, "+15550008003", nil, nil),
            ])
            #expect(suppressed == [false, true])
            let callbacks = await simulator.messages().compactMap(\.statusCallback)
            #expect(callbacks.count == 3 && callbacks.allSatisfy { $0 == hooks.address + "/twilio/messages/status" })
        }
    }
}
