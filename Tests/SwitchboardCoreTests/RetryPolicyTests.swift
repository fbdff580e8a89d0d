import SwitchboardCore
import Testing

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(base: .seconds(2), cap: .seconds(60), minimum: .milliseconds(100))

    @Test func ceilingDoublesUntilTheCap() {
        let ceilings = (1...8).map { policy.ceiling(afterAttempt: $0) }
        #expect(
            ceilings == [
                .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(32), .seconds(60), .seconds(60),
                .seconds(60),
            ])
        #expect(policy.ceiling(afterAttempt: 500) == .seconds(60))
    }

    @Test func fullJitterSpansZeroToTheCeiling() {
        #expect(policy.delay(afterAttempt: 3, unitRandom: 0) == .milliseconds(100))  // the minimum
        #expect(policy.delay(afterAttempt: 3, unitRandom: 0.5) == .seconds(4))
        #expect(policy.delay(afterAttempt: 3, unitRandom: 0.999).seconds < 8)
        #expect(policy.delay(afterAttempt: 30, unitRandom: 0.999).seconds <= 60)
    }

    @Test func failuresRetryUntilMaxAttemptsThenFail() {
        let outcome = JobOutcome.failed(error: "timeout", permanent: false)
        for attempt in 1..<5 {
            let next = JobTransition.after(outcome, attempt: attempt, maxAttempts: 5, policy: policy, unitRandom: 0.5)
            let delay = policy.delay(afterAttempt: attempt, unitRandom: 0.5)
            // Past the scheduling horizon a retry waits outside the claim path.
            #expect(next.state == (delay > JobState.schedulingHorizon ? .scheduled : .available))
            #expect(next.delay == delay)
            #expect(next.errorKind == .error)
        }
        let last = JobTransition.after(outcome, attempt: 5, maxAttempts: 5, policy: policy, unitRandom: 0.5)
        #expect(last.state == .failed)
        #expect(last.error == "timeout")
    }

    @Test func permanentErrorsSkipRetries() {
        let next = JobTransition.after(
            .failed(error: "invalid number", permanent: true), attempt: 1, maxAttempts: 20, policy: policy,
            unitRandom: 0.5)
        #expect(next == JobTransition(state: .failed, error: "invalid number", errorKind: .permanent))
    }

    @Test func snoozeGivesTheAttemptBack() {
        let next = JobTransition.after(
            .snoozed(delay: .seconds(3)), attempt: 4, maxAttempts: 4, policy: policy, unitRandom: 0)
        #expect(next == JobTransition(state: .available, delay: .seconds(3), givesBackAttempt: true))
    }

    @Test func completionAndCancellation() {
        #expect(
            JobTransition.after(.completed(result: "{}"), attempt: 1, maxAttempts: 1, policy: policy, unitRandom: 0)
                == JobTransition(state: .completed, result: "{}"))
        #expect(
            JobTransition.after(
                .cancelled(reason: "campaign cancelled"), attempt: 1, maxAttempts: 1, policy: policy, unitRandom: 0
            )
            .state == .cancelled)
    }
}

@Suite struct JobSpecTests {
    @Test(arguments: ["sms", "voice_agent", "a", "x.y-z_1"])
    func acceptsNames(name: String) throws {
        try JobSpec.validateName(name, field: "kind")
    }

    @Test(arguments: [
        ("", "must not be empty"), ("SMS", "lower-case letter"), ("1sms", "lower-case letter"),
        ("sms kind", "found ' '"), (String(repeating: "a", count: 65), "longer than 64"),
    ])
    func rejectsNames(name: String, problem: String) {
        let error = #expect(throws: InputError.self) { try JobSpec.validateName(name, field: "kind") }
        #expect(error?.field == "kind")
        #expect(error?.description.contains(problem) == true, "\(String(describing: error))")
    }

    @Test func rangesNameTheirField() {
        #expect(throws: InputError(field: "priority", problem: "1001 is outside 0…1000")) {
            try JobSpec.validatePriority(1001)
        }
        #expect(throws: InputError(field: "max_attempts", problem: "0 is outside 1…1000")) {
            try JobSpec.validateMaxAttempts(0)
        }
        #expect(throws: InputError.self) { try JobSpec.validateIdempotencyKey("") }
    }
}

@Suite struct DurationParsingTests {
    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("30s", .seconds(30)), ("5m", .seconds(300)), ("2h", .seconds(7200)),
        ("7d", .seconds(604_800)), ("1.5", .milliseconds(1500)), (" 10s ", .seconds(10)),
    ])
    func parses(text: String, expected: Duration) throws {
        #expect(try DurationParsing.parse(text, field: "x") == expected)
    }

    @Test(arguments: ["", "abc", "-1s", "5 minutes", "1e999s", "ms"])
    func rejects(text: String) {
        let error = #expect(throws: InputError.self) { try DurationParsing.parse(text, field: "--lease") }
        #expect(error?.field == "--lease")
    }
}

@Suite struct SlotPlanTests {
    @Test func aSaturatedJobWaitsForTheFirstFreeSlotPlusADoublingWindow() {
        let horizon = Duration.seconds(60)
        func delay(_ free: Double, _ rounds: Int, _ jitter: Double) -> Duration {
            SlotPlan.saturatedDelay(secondsUntilFree: free, rounds: rounds, horizon: horizon, jitter: jitter)
        }
        #expect(delay(2, 1, 0) == .seconds(2))
        #expect(delay(2, 1, 1) == .seconds(3))
        #expect(delay(2, 2, 1) == .seconds(4))
        #expect(delay(2, 4, 0.5) == .seconds(6))
        // The window stops at half the horizon, however many rounds.
        #expect(delay(2, 10, 1) == .seconds(32))
        #expect(delay(2, 1_000_000, 1) == .seconds(32))
        // A slot already free (or a nonsense answer) still waits 50 ms; a day at most.
        #expect(delay(-5, 1, 0) == .milliseconds(50))
        #expect(delay(.nan, 1, 0) == .milliseconds(50))
        #expect(delay(1e12, 1, 0) == .seconds(86400))
        #expect(delay(2, 1, 7) == .seconds(3), "jitter is a share of the window")
    }

    @Test func plans() {
        #expect(SlotPlan.plan(secondsUntilSlot: -0.3) == .sendNow)
        #expect(SlotPlan.plan(secondsUntilSlot: 0.001) == .sendNow)
        #expect(SlotPlan.plan(secondsUntilSlot: 0.4) == .wait(.milliseconds(400)))
        #expect(SlotPlan.plan(secondsUntilSlot: 1.5) == .wait(.milliseconds(1500)))
        #expect(SlotPlan.plan(secondsUntilSlot: 10) == .snooze(.milliseconds(9400)))
        #expect(SlotPlan.plan(secondsUntilSlot: 0.0005 * 7) == .wait(.microseconds(3500)))
        #expect(SlotPlan.plan(secondsUntilSlot: .infinity) == .snooze(.seconds(10_000_000) - .milliseconds(600)))
    }

    /// Issue 11 §3: a fresh slot is never given up, however late its booking's answer arrived (a
    /// 2,000/s sender's half-interval is 0.25 ms, less than any round trip); a kept one is, once.
    @Test func freshSlotsAreNeverMissedKeptOnesAreJudgedAgainstTheTolerance() {
        #expect(SlotPlan.plan(secondsUntilSlot: -5) == .sendNow)
        #expect(SlotPlan.planKept(secondsUntilSlot: -0.0002, tolerance: 0.00025) == .sendNow)
        #expect(SlotPlan.planKept(secondsUntilSlot: -0.0003, tolerance: 0.00025) == .missed)
        #expect(SlotPlan.planKept(secondsUntilSlot: 0.5, tolerance: 0.00025) == .wait(.milliseconds(500)))
        #expect(SlotPlan.planKept(secondsUntilSlot: 30, tolerance: 0.5) == .snooze(.milliseconds(29400)))
    }
}
