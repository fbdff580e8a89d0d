import Foundation
import SwitchboardCore
import SwitchboardStore
import SwitchboardWorker

/// A job kind for measuring the rate limiter alone: it books a slot exactly as a real send does
/// and, instead of calling Twilio, reports the moment it would have sent. Used by
/// `switchboard bench ratelimit`.
public enum LimiterProbe {
    public static let kind = "bench.ratelimit"

    public static func register(
        in registry: inout HandlerRegistry, senders: SenderStore, horizon: Duration = .seconds(300),
        sent: @escaping @Sendable (_ from: String, _ at: ContinuousClock.Instant) -> Void
    ) {
        let slots = SendSlots(senders: senders, horizon: horizon)
        registry.register(kind) { job, context in
            let spec = try job.payload.decode(MessageSpec.self)
            let accountID = (try? job.payload.decode([String: JSONValue].self))?["accountId"].flatMap {
                if case .int(let id) = $0 { return id } else { return nil }
            }
            guard let accountID else { return .failed(error: "accountId missing", permanent: true) }
            switch try await slots.decide(job: job, spec: spec, accountID: accountID, logger: context.logger) {
            case .send(let from):
                sent(from ?? spec.from ?? "?", .now)
                return .completed(result: nil)
            case .outcome(let outcome):
                return outcome
            }
        }
    }
}
