import Synchronization
import TestSupport
import Testing

@testable import TwilioSimulator

/// A resource's status steps are applied in the order they were scheduled, even when the first
/// one takes longer than the second (on a busy machine two sleeping tasks may wake in any order).
@Suite struct StepChainsTests {
    @Test func stepsOfOneResourceRunInOrderAndOthersDoNotWait() async throws {
        let chains = StepChains()
        let order = Mutex<[String]>([])
        chains.append(after: "SM1") {
            try? await Task.sleep(for: .milliseconds(200))
            order.withLock { $0.append("SM1 sent") }
        }
        chains.append(after: "SM1") { order.withLock { $0.append("SM1 delivered") } }
        chains.append(after: "SM2") { order.withLock { $0.append("SM2 sent") } }
        let done = await eventually(timeout: .seconds(5)) { order.withLock { $0.count } == 3 }
        #expect(done)
        #expect(order.withLock { $0 } == ["SM2 sent", "SM1 sent", "SM1 delivered"])
    }
}
