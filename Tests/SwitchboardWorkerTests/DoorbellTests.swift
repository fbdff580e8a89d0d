import Testing

@testable import SwitchboardWorker

/// The worker loop's doorbell: rings are kept, and a wait ends at its deadline even when an alarm
/// for a later time is already set (one alarm serves many waits).
@Suite(.timeLimit(.minutes(1))) struct DoorbellTests {
    @Test func aRingBeforeTheWaitIsKept() async {
        let doorbell = Doorbell()
        doorbell.ring()
        await doorbell.wait(until: nil, cancellationWakes: true)
    }

    @Test func aWaitEndsAtItsDeadlineAlsoWhenALaterAlarmIsSet() async {
        let doorbell = Doorbell()
        defer { doorbell.close() }
        let start = ContinuousClock.now
        // A wait for an hour arms the alarm for an hour; a ring ends it.
        let long = Task { await doorbell.wait(until: start + .seconds(3600), cancellationWakes: true) }
        try? await Task.sleep(for: .milliseconds(20))
        doorbell.ring()
        await long.value
        // The next wait asks for 50 ms: a sooner alarm is armed.
        await doorbell.wait(until: start + .milliseconds(70), cancellationWakes: true)
        let waited = ContinuousClock.now - start
        #expect(waited >= .milliseconds(70))
        #expect(waited < .seconds(60), "woken by its own deadline, not the hour-long alarm")
    }

    @Test func waitsForTheSameDeadlineShareOneAlarmAndEachEndsOnTime() async {
        let doorbell = Doorbell()
        defer { doorbell.close() }
        let due = ContinuousClock.now + .milliseconds(60)
        // The first wait ends early by a ring; the second waits for the same alarm.
        let first = Task { await doorbell.wait(until: due, cancellationWakes: true) }
        try? await Task.sleep(for: .milliseconds(10))
        doorbell.ring()
        await first.value
        await doorbell.wait(until: due, cancellationWakes: true)
        #expect(ContinuousClock.now >= due)
    }

    @Test func cancellationEndsAWaitWhenAsked() async {
        let doorbell = Doorbell()
        defer { doorbell.close() }
        let waiting = Task { await doorbell.wait(until: nil, cancellationWakes: true) }
        try? await Task.sleep(for: .milliseconds(10))
        waiting.cancel()
        await waiting.value
    }
}
