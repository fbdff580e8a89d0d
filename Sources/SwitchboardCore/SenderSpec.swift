/// A sender as it will be stored, checked: its address normalised, rate and capabilities
/// defaulted by kind, country and area code read from the number. Errors name the field.
public struct SenderSpec: Sendable, Equatable {
    public var address: String
    public var kind: SenderKind
    public var rate: Double
    public var burst: Double
    public var capabilities: [String]
    public var countryCode: Int?
    public var areaCode: String?

    /// Segments per second a sender can be given. Below one segment in about 17 minutes a slot's
    /// interval no longer fits PostgreSQL's interval arithmetic usefully; above 10,000 no Twilio
    /// sender is provisioned (short codes start at 100).
    public static let rates: ClosedRange<Double> = 0.001...10_000
    public static let bursts: ClosedRange<Double> = 1...10_000

    public static func check(rate: Double, field: String = "rate") throws(InputError) {
        guard rate.isFinite, rates.contains(rate) else {
            throw InputError(
                field: field,
                problem: "\(rate) is outside \(rates.lowerBound)…\(Int(rates.upperBound)) segments per second")
        }
    }

    public static func check(burst: Double, field: String = "burst") throws(InputError) {
        guard burst.isFinite, bursts.contains(burst) else {
            throw InputError(field: field, problem: "\(burst) is outside 1…\(Int(bursts.upperBound)) segments")
        }
    }

    public init(
        address: String, kind: SenderKind, rate: Double? = nil, burst: Double = 1, capabilities: [String]? = nil
    ) throws(InputError) {
        var normalized = address
        switch kind {
        case .longCode, .tollFree, .whatsapp:
            let parsed = try ChannelAddress(parsing: address, field: "address")
            if kind == .whatsapp && !parsed.isWhatsApp {
                throw InputError(
                    field: "address", problem: "'\(address)' must be a whatsapp:+… address for a WhatsApp sender")
            }
            countryCode = parsed.number.countryCode
            areaCode = parsed.number.areaCode
            if kind != .whatsapp { normalized = parsed.description }
        case .shortCode:
            guard (3...8).contains(address.count), address.allSatisfy(\.isNumber) else {
                throw InputError(field: "address", problem: "'\(address)' is not a short code (3 to 8 digits)")
            }
        case .alphanumeric:
            guard (1...11).contains(address.count), address.contains(where: \.isLetter) else {
                throw InputError(
                    field: "address",
                    problem: "'\(address)' is not an alphanumeric sender ID (1–11 characters with a letter)")
            }
        }
        let rate = rate ?? kind.defaultRate
        try Self.check(rate: rate)
        try Self.check(burst: burst)
        let capabilities = capabilities ?? kind.defaultCapabilities
        guard !capabilities.isEmpty else { throw InputError(field: "capabilities", problem: "name at least one") }
        for capability in capabilities where !SenderKind.capabilities.contains(capability) {
            throw InputError(field: "capabilities", problem: "'\(capability)' is not one of sms, mms, voice, whatsapp")
        }
        self.address = normalized
        self.kind = kind
        self.rate = rate
        self.burst = burst
        self.capabilities = capabilities
    }
}
