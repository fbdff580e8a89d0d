import Foundation
import SwitchboardCore
import Testing

@Suite struct PriceCheckScheduleTests {
    let schedule = PriceCheckSchedule(delays: [.seconds(10), .seconds(60), .seconds(600)], giveUpAfter: .seconds(3600))
    let final = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func checksThinOutAndTheLastDelayRepeats() {
        let now = final.addingTimeInterval(5)
        #expect(schedule.nextCheck(afterChecks: 1, finalAt: final, now: now) == now.addingTimeInterval(10))
        #expect(schedule.nextCheck(afterChecks: 2, finalAt: final, now: now) == now.addingTimeInterval(60))
        #expect(schedule.nextCheck(afterChecks: 3, finalAt: final, now: now) == now.addingTimeInterval(600))
        #expect(schedule.nextCheck(afterChecks: 9, finalAt: final, now: now) == now.addingTimeInterval(600))
    }

    @Test func theLastCheckFallsOnTheGiveUpAgeAndThenItGivesUp() {
        let late = final.addingTimeInterval(3500)
        #expect(schedule.nextCheck(afterChecks: 3, finalAt: final, now: late) == final.addingTimeInterval(3600))
        #expect(schedule.nextCheck(afterChecks: 4, finalAt: final, now: final.addingTimeInterval(3600)) == nil)
    }

    @Test func theStandardScheduleAsksAboutADozenTimesInADay() {
        var now = Date(timeIntervalSince1970: 0)
        var checks = 1
        while let next = PriceCheckSchedule.standard.nextCheck(
            afterChecks: checks, finalAt: Date(timeIntervalSince1970: 0), now: now)
        {
            now = next
            checks += 1
        }
        #expect((10...16).contains(checks))
    }
}
