import SwitchboardCore

/// Settings of the Twilio simulator.
public struct SimulatorConfiguration: Sendable {
    /// How a message to a number ends.
    public enum DeliveryOutcome: Sendable, Equatable {
        case delivered
        /// Carrier reported it undelivered with this error code (e.g. 30003, 30005).
        case undelivered(code: Int)
        /// Twilio could not send it (e.g. 30007 filtered, 30006 landline).
        case failed(code: Int)
    }

    /// Address and port to listen on (port 0: any free port).
    public var host = "127.0.0.1"
    public var port = 0
    /// Account SID → auth token. Requests must authenticate with one of these (HTTP Basic).
    public var accounts: [String: String] = [:]
    /// Per-recipient outcomes; everyone else gets `defaultOutcome`.
    public var outcomes: [String: DeliveryOutcome] = [:]
    public var defaultOutcome: DeliveryOutcome = .delivered
    /// For recipients without a rule: outcomes drawn at random (with `seed`), each with its
    /// probability; the rest get `defaultOutcome`. E.g. `[(.undelivered(code: 30003), 0.02)]`.
    public var randomOutcomes: [(outcome: DeliveryOutcome, probability: Double)] = []
    /// Time between status steps (queued → sent → delivered) in callbacks.
    public var callbackStep: Duration = .milliseconds(50)
    /// Segments per second each sender may send, like Twilio's per-number throughput (US long
    /// code 1, toll-free 3, short code 100). Messages beyond it wait in a per-sender queue; `nil`
    /// means unthrottled. Per-sender values override the default.
    public var defaultThroughput: Double?
    public var throughput: [String: Double] = [:]
    /// A sender whose queue would exceed this is refused with 21611 (Twilio: 10 hours).
    public var maxQueue: Duration = .seconds(36_000)
    /// Each number's carrier (Lookup's answer, and whose limits its messages meet); numbers
    /// without a rule get `SimulatedCarrier.byLastDigit`.
    public var carriers: [String: SimulatedCarrier] = [:]
    /// The A2P 10DLC limits carriers meter, by carrier; none by default.
    public var carrierLimits: [Carrier: SimulatedCarrier.Limit] = [:]
    /// How long after a message is sent (a call ends) Twilio's REST API starts showing its price;
    /// until then `price` is null, as on Twilio.
    public var priceDelay: Duration = .zero
    /// What a message that failed before it was sent is charged (Twilio's failed-message
    /// processing fee, e.g. "-0.00100"); nil: it never gets a price.
    public var failedMessagePrice: String?
    /// Seed for SIDs and injected faults, so a run can be repeated.
    public var seed: UInt64 = 42
    public var faults = Faults()

    /// What the person who answers a call says at each `<Gather>`, per called number, in order.
    /// A number without a script (or past its end) stays silent.
    public var callers: [String: [CallerAnswer]] = [:]
    /// How long the caller takes before answering each `<Gather>` (people think before they speak).
    public var answerDelay: Duration = .zero

    public enum CallerAnswer: Sendable, Equatable {
        case speech(String, confidence: Double = 0.92)
        case digits(String)
        case silence
        /// Over ConversationRelay: speaks over the agent's next answer as soon as its first words
        /// are heard (Twilio sends `interrupt` with what was heard), then says this. Over
        /// `<Gather>`, an answer like `speech`.
        case interrupting(String)
    }

    /// Injected failures, each a probability per create request.
    public struct Faults: Sendable {
        /// HTTP 429 / 20429 (not processed; safe to retry).
        public var tooManyRequests = 0.0
        /// HTTP 500 / 20500 (not processed).
        public var serverError = 0.0
        /// The message is created, then the response never arrives in time (the client times out).
        public var dropResponse = 0.0
        /// How long a dropped response is held before it is answered anyway.
        public var dropHold: Duration = .seconds(30)
        /// Added to every create request.
        public var latency: Duration = .zero

        public init() {}
    }

    public init() {}
}
