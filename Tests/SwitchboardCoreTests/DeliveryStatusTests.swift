import SwitchboardCore
import Testing

@Suite struct DeliveryStatusTests {
    @Test(arguments: [
        ("queued", "sent", true), ("sent", "delivered", true), ("accepted", "queued", true),
        ("delivered", "sent", false), ("delivered", "queued", false), ("sent", "sending", false),
        ("delivered", "undelivered", false), ("failed", "delivered", false), ("undelivered", "failed", false),
        ("delivered", "read", true), ("sent", "read", true), ("read", "delivered", false),
        ("failed", "read", false), ("sent", "sent", false), ("something_new", "sent", true),
    ])
    func messagesOnlyMoveForward(current: String, next: String, advances: Bool) throws {
        let status = try #require(MessageStatus(rawValue: next))
        #expect(status.advances(from: current) == advances)
        #expect(TwilioStatus.message(status).advances(from: current) == advances)
    }

    @Test(arguments: [
        ("queued", "ringing", true), ("ringing", "in-progress", true), ("in-progress", "completed", true),
        ("completed", "in-progress", false), ("busy", "completed", false), ("ringing", "queued", false),
        ("initiated", "no-answer", true), ("something_new", "ringing", true),
    ])
    func callsOnlyMoveForward(current: String, next: String, advances: Bool) throws {
        let status = try #require(CallStatus(rawValue: next))
        #expect(status.advances(from: current) == advances)
        #expect(TwilioStatus.call(status).advances(from: current) == advances)
    }

    /// What Twilio may add is not a status here: the webhook ignores it (and says so).
    @Test func unknownStatusesAreNotStatuses() {
        #expect(MessageStatus(rawValue: "bogus") == nil)
        #expect(CallStatus(rawValue: "nonsense") == nil)
        #expect(MessageStatus(rawValue: "partially_delivered") == .partiallyDelivered)
        #expect(CallStatus(rawValue: "no-answer") == .noAnswer && CallStatus(rawValue: "in-progress") == .inProgress)
    }

    @Test func theFinalStatusesAreTwiliosFinalOnes() {
        #expect(
            Set(MessageStatus.allCases.filter(\.isFinal).map(\.rawValue)) == [
                "delivered", "undelivered", "failed", "canceled", "partially_delivered", "read",
            ])
        #expect(
            Set(CallStatus.allCases.filter(\.isFinal).map(\.rawValue)) == [
                "completed", "busy", "failed", "no-answer", "canceled",
            ])
    }
}
