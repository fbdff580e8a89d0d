import SwitchboardCore
import Testing

@Suite struct DeliveryStatusTests {
    @Test(arguments: [
        ("queued", "sent", true), ("sent", "delivered", true), ("accepted", "queued", true),
        ("delivered", "sent", false), ("delivered", "queued", false), ("sent", "sending", false),
        ("delivered", "undelivered", false), ("failed", "delivered", false), ("undelivered", "failed", false),
        ("delivered", "read", true), ("sent", "read", true), ("read", "delivered", false),
        ("failed", "read", false), ("sent", "bogus", false), ("sent", "sent", false),
    ])
    func messagesOnlyMoveForward(current: String, next: String, advances: Bool) {
        #expect(DeliveryStatus.messageAdvances(from: current, to: next) == advances)
    }

    @Test(arguments: [
        ("queued", "ringing", true), ("ringing", "in-progress", true), ("in-progress", "completed", true),
        ("completed", "in-progress", false), ("busy", "completed", false), ("ringing", "queued", false),
        ("initiated", "no-answer", true), ("completed", "nonsense", false),
    ])
    func callsOnlyMoveForward(current: String, next: String, advances: Bool) {
        #expect(DeliveryStatus.callAdvances(from: current, to: next) == advances)
    }

    @Test func finalStatusesAreKnown() {
        for status in DeliveryStatus.finalMessageStatuses { #expect(DeliveryStatus.isKnownMessageStatus(status)) }
        for status in DeliveryStatus.finalCallStatuses { #expect(DeliveryStatus.isKnownCallStatus(status)) }
    }
}
