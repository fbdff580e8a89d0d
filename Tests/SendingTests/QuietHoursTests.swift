import Foundation
import SwitchboardCore
import SwitchboardSending
import SwitchboardStore
import TestSupport
import Testing

@Suite struct QuietHoursTests {
    static func utc(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    @Test func windowsOpenAtTheNextLocalStart() throws {
        let window = try SendWindow(parsing: "08:00-21:00")
        let newYork = TimeZone(identifier: "America/New_York")!
        // 23:30 in New York (04:30 UTC next day): opens at 08:00 local, 12:00 UTC (EST, UTC-5).
        #expect(
            window.nextOpening(after: Self.utc("2026-11-26T04:30:00Z"), in: newYork) == Self.utc("2026-11-26T13:00:00Z")
        )
        // 10:00 local is inside.
        #expect(window.nextOpening(after: Self.utc("2026-11-26T15:00:00Z"), in: newYork) == nil)
        // 06:00 local on the day clocks spring forward (2026-03-08): opens 08:00 EDT = 12:00 UTC.
        #expect(
            window.nextOpening(after: Self.utc("2026-03-08T10:00:00Z"), in: newYork) == Self.utc("2026-03-08T12:00:00Z")
        )
    }

    @Test func windowsMayWrapMidnight() throws {
        let night = try SendWindow(parsing: "21:00-08:00")
        let utc = TimeZone(identifier: "UTC")!
        #expect(night.nextOpening(after: Self.utc("2026-11-26T23:00:00Z"), in: utc) == nil)
        #expect(night.nextOpening(after: Self.utc("2026-11-26T07:59:00Z"), in: utc) == nil)
        #expect(night.nextOpening(after: Self.utc("2026-11-26T12:00:00Z"), in: utc) == Self.utc("2026-11-26T21:00:00Z"))
    }

    @Test(arguments: ["8-21", "08:00", "25:00-26:00", "08:00-08:00", "08:60-09:00", ""])
    func badWindowsNameTheField(text: String) {
        let error = #expect(throws: InputError.self) { try SendWindow(parsing: text) }
        #expect(error?.field == "sendWindow")
    }

    @Test(arguments: [
        ("+12125550100", "America/New_York"), ("+14155550100", "America/Los_Angeles"),
        ("+13125550100", "America/Chicago"),
        ("+16025550100", "America/Phoenix"), ("+14165550100", "America/Toronto"), ("+447911123456", "Europe/London"),
        ("+4915112345678", "Europe/Berlin"), ("+919812345678", "Asia/Kolkata"),
    ])
    func timeZonesFromNumbers(number: String, zone: String) throws {
        #expect(RecipientTimeZone.guess(try PhoneNumber(parsing: number, field: "to")) == zone)
    }

    @Test func numbersSpanningZonesNeedATimezone() throws {
        // Mexico has several zones; area code 850 (Florida panhandle) is split.
        for number in ["+5215512345678", "+18505550100", "+61412345678"] {
            let recipient = try PhoneNumber(parsing: number, field: "to")
            #expect(RecipientTimeZone.guess(recipient) == nil)
            let error = #expect(throws: InputError.self) {
                try QuietHours.resolve(window: "08:00-21:00", timeZone: nil, recipient: recipient)
            }
            #expect(error?.field == "timezone")
            #expect(
                try QuietHours.resolve(window: "08:00-21:00", timeZone: "America/Mexico_City", recipient: recipient)?
                    .timeZone
                    == "America/Mexico_City")
        }
        let bad = #expect(throws: InputError.self) {
            try QuietHours.resolve(
                window: "08:00-21:00", timeZone: "Mars/Olympus",
                recipient: try PhoneNumber(parsing: "+12125550100", field: "to"))
        }
        #expect(bad?.problem.contains("not a time zone") == true)
    }

    @Test func aMessageOutsideItsWindowWaitsWithoutUsingAnAttempt() async throws {
        try await SendingHarness.with { harness, _ in
            // A one-hour window starting two hours from now (UTC), so it is closed now.
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let hour = calendar.component(.hour, from: Date())
            let window = String(format: "%02d:00-%02d:00", (hour + 2) % 24, (hour + 3) % 24)
            var request = MessageRequest(
                account: "main", to: "+12125550100", from: "+15557654321", body: "Good morning")
            request.sendWindow = window
            request.timezone = "UTC"
            let id = try await SendJobs.enqueue(request, channel: .sms, store: harness.db.store).id
            #expect(await eventually { try await harness.db.store.job(id: id)?.runAt.timeIntervalSinceNow ?? 0 > 3000 })
            let job = try #require(try await harness.db.store.job(id: id))
            // Hours away: it waits outside the claim path.
            #expect(job.state == .scheduled)
            #expect(job.attempt == 0)
            let expected = calendar.nextDate(
                after: Date(), matching: DateComponents(hour: (hour + 2) % 24, minute: 0), matchingPolicy: .nextTime)!
            #expect(abs(job.runAt.timeIntervalSince(expected)) < 2)
            #expect(await harness.simulator.messages().isEmpty)
        }
    }
}
