/// A US mobile carrier as 10DLC pacing sees it: the three that meter A2P traffic, the minor
/// ones (below 5 % of the market, paced at their own lower budget), and numbers Lookup could
/// not place.
public enum Carrier: String, Sendable, Codable, CaseIterable {
    case att
    case tmobile
    case verizon
    /// A minor carrier (US Cellular, a regional or MVNO network, a VoIP provider).
    case other
    /// Lookup had no answer for the number (or failed): paced as a minor carrier, not cached.
    case unknown

    /// The carrier of a Lookup `line_type_intelligence` answer: by the network's mobile country
    /// and network codes where they name one of the three, else by its name (carriers report
    /// brands and subsidiaries: Cingular is AT&T, Sprint and Metro are T-Mobile, Cellco is
    /// Verizon).
    public init(carrierName: String?, mobileCountryCode: String?, mobileNetworkCode: String?) {
        if let mcc = mobileCountryCode, let mnc = mobileNetworkCode, let known = Self.networks["\(mcc)-\(mnc)"] {
            self = known
            return
        }
        guard let name = carrierName?.lowercased(), !name.isEmpty else {
            self = .unknown
            return
        }
        if name.contains("at&t") || name.contains("cingular") || name.contains("cricket") {
            self = .att
        } else if name.contains("t-mobile") || name.contains("sprint") || name.contains("metropcs")
            || name.contains("metro by t-mobile")
        {
            self = .tmobile
        } else if name.contains("verizon") || name.contains("cellco") {
            self = .verizon
        } else {
            self = .other
        }
    }

    /// Well-known US networks (MCC-MNC) of the three major carriers.
    static let networks: [String: Carrier] = [
        "310-030": .att, "310-070": .att, "310-150": .att, "310-170": .att, "310-280": .att, "310-380": .att,
        "310-410": .att, "310-560": .att, "310-680": .att, "311-180": .att,
        "310-160": .tmobile, "310-200": .tmobile, "310-210": .tmobile, "310-220": .tmobile, "310-230": .tmobile,
        "310-240": .tmobile, "310-250": .tmobile, "310-260": .tmobile, "310-310": .tmobile, "310-490": .tmobile,
        "310-660": .tmobile, "310-800": .tmobile, "312-250": .tmobile,
        "310-004": .verizon, "310-010": .verizon, "310-012": .verizon, "310-013": .verizon, "311-480": .verizon,
        "311-110": .verizon, "311-270": .verizon, "311-390": .verizon,
    ]
}
