import Testing

@testable import SwitchboardWorker

/// An instant the test moves by hand: the scheduler never reads a clock.
struct ManualInstant: InstantProtocol {
    var offset: Duration

    static let start = ManualInstant(offset: .zero)

    func advanced(by duration: Duration) -> ManualInstant { ManualInstant(offset: offset + duration) }
    func duration(to other: ManualInstant) -> Duration { other.offset - offset }
    static func < (lhs: ManualInstant, rhs: ManualInstant) -> Bool { lhs.offset < rhs.offset }
    static func + (lhs: ManualInstant, rhs: Duration) -> ManualInstant { lhs.advanced(by: rhs) }
}

typealias Scheduler = WorkerScheduler<ManualInstant>

@Suite struct WorkerSchedulerTests {
    let t0 = ManualInstant.start

    func scheduler(
        queues: [String] = ["default"], concurrency: Int = 8, batchSize: Int = 8, maxBacklog: Int = 1000,
        claimsInFlight: Int = 1
    ) -> Scheduler {
        Scheduler(
            settings: .init(
                queues: queues, concurrency: concurrency, batchSize: batchSize, pollInterval: .seconds(1),
                shutdownGracePeriod: .seconds(10), maxBacklog: maxBacklog, claimsInFlight: claimsInFlight),
            now: t0)
    }

    @Test func aRoundClaimsFromEachQueueUntilItComesBackShortThenWaitsForThePoll() {
        var machine = scheduler(queues: ["urgent", "bulk"], concurrency: 20, batchSize: 8)
        #expect(machine.next(now: t0) == .claim(queue: "urgent", limit: 8))
        #expect(machine.next(now: t0) == .wait(until: nil), "one claim at a time")
        machine.claimed(8, limit: 8, queue: "urgent")
        // A full batch: the same queue may have more.
        #expect(machine.next(now: t0) == .claim(queue: "urgent", limit: 8))
        machine.claimed(3, limit: 8, queue: "urgent")
        // Short: `urgent` is drained for now; the rest of the capacity goes to `bulk`.
        #expect(machine.next(now: t0) == .claim(queue: "bulk", limit: 8))
        machine.claimed(0, limit: 8, queue: "bulk")
        #expect(machine.next(now: t0) == .wait(until: t0 + .seconds(1)))
        #expect(machine.running == 11)
    }

    @Test func aBusyWorkerWaitsForAQuarterBatchOfFreeCapacity() {
        var machine = scheduler(concurrency: 8, batchSize: 8)
        #expect(machine.claimThreshold == 2)
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 8))
        machine.claimed(8, limit: 8, queue: "default")
        #expect(machine.next(now: t0) == .wait(until: t0 + .seconds(1)), "no capacity left")
        machine.finished()
        #expect(machine.next(now: t0) == .wait(until: t0 + .seconds(1)), "one free slot is below the threshold")
        machine.finished()
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 2))
    }

    @Test func aJobEndingWakesTheLoopOnlyWhenThereIsSomethingToDo() {
        var machine = scheduler(concurrency: 8, batchSize: 8)
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 8))
        machine.claimed(8, limit: 8, queue: "default")
        #expect(machine.finished() == false, "one free slot is below the threshold of 2")
        #expect(machine.finished() == true, "two free slots: a claim")
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 2))
        #expect(machine.finished() == false, "the loop is in a claim and asks again when it returns")
        machine.claimed(0, limit: 2, queue: "default")
        machine.shutdownRequested(now: t0)
        for _ in 0..<4 { #expect(machine.finished() == false, "draining: jobs are still running") }
        #expect(machine.finished() == true, "draining: the last job ended, the loop stops")
        #expect(machine.next(now: t0) == .stop)
    }

    @Test func onceAFullAnswerShowsABacklogTwoClaimsShareTheCapacity() {
        var machine = scheduler(concurrency: 8, batchSize: 8, claimsInFlight: 2)
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 4))
        #expect(machine.next(now: t0) == .wait(until: nil), "no backlog known: an idle worker's poll is one claim")
        machine.claimed(4, limit: 4, queue: "default")
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 4), "a full answer: the next goes out")
        machine.claimed(4, limit: 4, queue: "default")
        #expect(machine.finished() == false, "one slot free")
        #expect(machine.finished() == true, "two slots free")
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 2), "nothing out: a quarter batch is enough")
        for _ in 0..<3 { #expect(machine.finished() == false, "beside a claim out, a claim needs half a batch free") }
        #expect(machine.finished() == true, "four slots free beside the claim out")
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 4))
        #expect(machine.next(now: t0) == .wait(until: nil), "two claims out")
        machine.claimed(2, limit: 2, queue: "default")
        machine.claimed(0, limit: 4, queue: "default")
        // Jobs ended while the claims were out (capacity came back): those answers do not end the round.
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 4))
        machine.claimed(0, limit: 4, queue: "default")
        #expect(machine.next(now: t0) == .wait(until: t0 + .seconds(1)), "came back short: the round is over")
        #expect(machine.running == 4)
    }

    @Test func aShareTooSmallForAClaimBesideItDoesNotShrinkTheClaim() {
        // Concurrency 50, batch 100: a claim beside another needs 50 free, so there is never room
        // for two; the one claim asks for all of the capacity, not half.
        var machine = scheduler(concurrency: 50, batchSize: 100, claimsInFlight: 2)
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 50))
        machine.claimed(50, limit: 50, queue: "default")
        for _ in 0..<12 { machine.finished() }
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 12))
        for _ in 0..<30 { #expect(machine.finished() == false, "never 50 free beside the claim out") }
    }

    @Test func aNotificationDuringTwoClaimsKeepsTheRoundOpenThroughBothAnswers() {
        var machine = scheduler(concurrency: 8, batchSize: 2, claimsInFlight: 2)
        _ = machine.next(now: t0)
        machine.claimed(2, limit: 2, queue: "default")
        _ = machine.next(now: t0)
        _ = machine.next(now: t0)
        #expect(machine.claimsInFlight == 2)
        machine.woke()
        machine.claimed(0, limit: 2, queue: "default")
        machine.claimed(0, limit: 2, queue: "default")
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 2), "either answer may have missed the job")
    }

    @Test func jobsAClaimReturnsAfterTheInterruptionAreInterruptedTooAndTheLoopWaitsForTheClaim() {
        var machine = scheduler(concurrency: 8, batchSize: 8, claimsInFlight: 2)
        _ = machine.next(now: t0)
        machine.cancelled()
        #expect(machine.next(now: t0) == .interruptRunning)
        #expect(machine.next(now: t0) == .wait(until: nil), "a claim is still out")
        machine.claimed(3, limit: 4, queue: "default")
        #expect(machine.next(now: t0) == .interruptRunning)
        for _ in 0..<2 { #expect(machine.finished() == false) }
        #expect(machine.finished() == true)
        #expect(machine.next(now: t0) == .stop)
    }

    @Test func anIdleWorkerClaimsForAnyCapacityAndNeverMoreThanABatch() {
        var machine = scheduler(concurrency: 1, batchSize: 100)
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 1))
        var wide = scheduler(concurrency: 500, batchSize: 100)
        #expect(wide.next(now: t0) == .claim(queue: "default", limit: 100))
    }

    @Test func theWorkerSleepsUntilThePollThenLooksAgain() {
        var machine = scheduler()
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 8))
        machine.claimed(0, limit: 8, queue: "default")
        #expect(machine.next(now: t0 + .milliseconds(300)) == .wait(until: t0 + .seconds(1)))
        #expect(machine.next(now: t0 + .seconds(1)) == .claim(queue: "default", limit: 8))
        machine.claimed(0, limit: 8, queue: "default")
        #expect(machine.next(now: t0 + .seconds(1)) == .wait(until: t0 + .seconds(2)))
    }

    @Test func aRescheduledJobWakesTheWorkerWhenDueNotAtThePoll() {
        var machine = scheduler()
        _ = machine.next(now: t0)
        machine.claimed(1, limit: 8, queue: "default")
        machine.finished()
        machine.rescheduled(dueAt: t0 + .milliseconds(250))
        // The finish starts a round (capacity came back); it finds nothing.
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 8))
        machine.claimed(0, limit: 8, queue: "default")
        #expect(machine.next(now: t0) == .wait(until: t0 + .milliseconds(250)))
        #expect(machine.next(now: t0 + .milliseconds(250)) == .claim(queue: "default", limit: 8))
        machine.claimed(1, limit: 8, queue: "default")
        #expect(machine.dueTimes.isEmpty)
        #expect(machine.next(now: t0 + .milliseconds(250)) == .wait(until: t0 + .seconds(1)))
    }

    @Test func dueTimesCloseTogetherShareOneWakeUpAndEachDistantOneKeepsItsOwn() {
        var machine = scheduler(concurrency: 10, batchSize: 10)
        _ = machine.next(now: t0)
        machine.claimed(5, limit: 10, queue: "default")
        for offset in [500, 503, 509, 100, 900] {
            machine.finished()
            machine.rescheduled(dueAt: t0 + .milliseconds(offset))
        }
        #expect(machine.dueTimes.map(\.offset) == [.milliseconds(100), .milliseconds(500), .milliseconds(900)])
    }

    @Test func aNotificationStartsARoundAtOnce() {
        var machine = scheduler()
        _ = machine.next(now: t0)
        machine.claimed(0, limit: 8, queue: "default")
        #expect(machine.next(now: t0 + .milliseconds(10)) == .wait(until: t0 + .seconds(1)))
        machine.woke()
        #expect(machine.next(now: t0 + .milliseconds(20)) == .claim(queue: "default", limit: 8))
    }

    @Test func aNotificationDuringAClaimIsNotLostWhenThatClaimComesBackShort() {
        var machine = scheduler()
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 8))
        machine.woke()  // the new job may have committed after the claim's snapshot
        machine.claimed(0, limit: 8, queue: "default")
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 8))
        machine.claimed(0, limit: 8, queue: "default")
        #expect(machine.next(now: t0) == .wait(until: t0 + .seconds(1)))
    }

    @Test func aFailedClaimIsRetriedAtTheNextPoll() {
        var machine = scheduler()
        #expect(machine.next(now: t0) == .claim(queue: "default", limit: 8))
        machine.claimFailed(limit: 8)
        #expect(machine.next(now: t0 + .milliseconds(1)) == .wait(until: t0 + .seconds(1)))
        #expect(machine.next(now: t0 + .seconds(1)) == .claim(queue: "default", limit: 8))
    }

    @Test func shutdownStopsClaimingAndStopsOnceNothingRuns() {
        var machine = scheduler()
        _ = machine.next(now: t0)
        machine.claimed(2, limit: 8, queue: "default")
        let asked = t0 + .seconds(3)
        machine.shutdownRequested(now: asked)
        #expect(machine.next(now: asked) == .wait(until: asked + .seconds(10)))
        machine.woke()
        machine.finished()
        machine.rescheduled(dueAt: t0 + .seconds(4))
        #expect(machine.next(now: asked + .seconds(1)) == .wait(until: asked + .seconds(10)), "no claim while draining")
        machine.finished()
        #expect(machine.next(now: asked + .seconds(2)) == .stop)
        #expect(machine.next(now: asked + .seconds(3)) == .stop)
    }

    @Test func whenTheGracePeriodEndsRunningJobsAreInterruptedOnceThenAwaited() {
        var machine = scheduler()
        _ = machine.next(now: t0)
        machine.claimed(3, limit: 8, queue: "default")
        machine.shutdownRequested(now: t0)
        machine.shutdownRequested(now: t0 + .seconds(5))  // a second signal does not extend the grace period
        #expect(machine.next(now: t0 + .seconds(10)) == .interruptRunning)
        #expect(machine.next(now: t0 + .seconds(10)) == .wait(until: nil))
        machine.finished()
        machine.finished()
        #expect(machine.next(now: t0 + .seconds(11)) == .wait(until: nil))
        machine.finished()
        #expect(machine.next(now: t0 + .seconds(11)) == .stop)
    }

    @Test func cancellationInterruptsAtOnceEvenWhileDraining() {
        var machine = scheduler()
        _ = machine.next(now: t0)
        machine.claimed(1, limit: 8, queue: "default")
        machine.shutdownRequested(now: t0)
        machine.cancelled()
        #expect(machine.next(now: t0) == .interruptRunning)
        #expect(machine.next(now: t0) == .wait(until: nil))
        machine.finished()
        #expect(machine.next(now: t0) == .stop)

        var idle = scheduler()
        idle.cancelled()
        #expect(idle.next(now: t0) == .stop)
    }

    @Test func aLargeBacklogOfUnwrittenFinishesHoldsClaimsBack() {
        var machine = scheduler(maxBacklog: 100)
        #expect(machine.next(now: t0, backlog: 100) == .wait(until: t0 + .seconds(1)))
        // The round stays open: once the completer has written, the claim goes ahead.
        #expect(machine.next(now: t0 + .milliseconds(5), backlog: 3) == .claim(queue: "default", limit: 8))
    }
}

@Suite struct StagerPauseTests {
    let interval = Duration.seconds(1)

    @Test func aFullBatchIsFollowedAtOnce() {
        #expect(Stager.pause(promoted: Stager.batchLimit, nextDueIn: .seconds(-3), interval: interval) == .zero)
    }

    @Test func itSleepsUntilTheNextJobIsDueButNoLongerThanTheInterval() {
        #expect(Stager.pause(promoted: 3, nextDueIn: .milliseconds(250), interval: interval) == .milliseconds(250))
        #expect(Stager.pause(promoted: 0, nextDueIn: .seconds(90), interval: interval) == interval)
        #expect(Stager.pause(promoted: 0, nextDueIn: nil, interval: interval) == interval)
    }

    @Test func aDueJobHeldByAnotherStagerDoesNotMakeABusyLoop() {
        #expect(Stager.pause(promoted: 0, nextDueIn: .seconds(-1), interval: interval) == Stager.minimumPause)
        #expect(Stager.pause(promoted: 0, nextDueIn: .zero, interval: interval) == Stager.minimumPause)
    }
}
