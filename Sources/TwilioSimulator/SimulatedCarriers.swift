import Foundation
import SwitchboardCore

/// US carriers as the simulator plays them: which carrier a number is on (answered by Lookup),
/// and the A2P 10DLC limits they meter. As Twilio does, a message over a carrier's limit is
/// accepted and then fails: 30022 over a rate, 30023 over the daily cap (the day is US
/// Pacific). The simulator meters every sender as one registered campaign of one brand.
public struct SimulatedCarrier: Sendable, Equatable {
    public var name: String
    public var mobileCountryCode: String
    public var mobileNetworkCode: String
    public var lineType: String

    public init(name: String, mobileCountryCode: String, mobileNetworkCode: String, lineType: String = "mobile") {
        self.name = name
        self.mobileCountryCode = mobileCountryCode
        self.mobileNetworkCode = mobileNetworkCode
        self.lineType = lineType
    }

    public static let att = SimulatedCarrier(name: "AT&T Wireless", mobileCountryCode: "310", mobileNetworkCode: "410")
    public static let tmobile = SimulatedCarrier(
        name: "T-Mobile USA, Inc.", mobileCountryCode: "310", mobileNetworkCode: "260")
    public static let verizon = SimulatedCarrier(
        name: "Verizon Wireless", mobileCountryCode: "311", mobileNetworkCode: "480")
    public static let uscellular = SimulatedCarrier(
        name: "U.S. Cellular", mobileCountryCode: "311", mobileNetworkCode: "580")

    /// Without a rule for the number: by its last digit, 0–3 AT&T, 4–6 T-Mobile, 7–8 Verizon,
    /// 9 a minor carrier (roughly the US market's shares).
    public static func byLastDigit(_ e164: String) -> SimulatedCarrier {
        switch e164.last.flatMap(\.wholeNumberValue) ?? 0 {
        case 0...3: .att
        case 4...6: .tmobile
        case 7...8: .verizon
        default: .uscellular
        }
    }

    /// A carrier's limit: at most `segments` in any `window` (AT&T's per minute, each carrier's
    /// MPS) and at most `perDay` per US Pacific day (T-Mobile's brand cap).
    public struct Limit: Sendable, Equatable {
        public var segments: Int?
        public var window: Duration
        public var perDay: Int?

        public init(segments: Int? = nil, window: Duration = .seconds(60), perDay: Int? = nil) {
            self.segments = segments
            self.window = window
            self.perDay = perDay
        }
    }
}

/// The carriers' meters: what each has carried, to judge the next message.
struct CarrierMeters {
    private var sent: [Carrier: [(at: ContinuousClock.Instant, segments: Int)]] = [:]
    private var daily: [String: Int] = [:]

    static let pacific = TimeZone(identifier: "America/Los_Angeles")!

    /// Meters a message carried at `at` (its date `date`): nil when within every limit, else the
    /// error code it fails with.
    mutating func carry(
        _ carrier: Carrier, segments: Int, at: ContinuousClock.Instant, date: Date, limit: SimulatedCarrier.Limit?
    ) -> Int? {
        guard let limit else { return nil }
        if let cap = limit.segments {
            let recent = sent[carrier, default: []].filter { at - $0.at < limit.window && $0.at <= at }
            if recent.reduce(0, { $0 + $1.segments }) + segments > cap { return 30022 }
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = Self.pacific
        let day = calendar.dateComponents([.year, .month, .day], from: date)
        let key = "\(carrier.rawValue) \(day.year ?? 0)-\(day.month ?? 0)-\(day.day ?? 0)"
        if let cap = limit.perDay, daily[key, default: 0] + segments > cap { return 30023 }
        daily[key, default: 0] += segments
        sent[carrier, default: []].append((at, segments))
        return nil
    }
}
