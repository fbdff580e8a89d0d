/// Twilio's resource identifiers: two capital letters and 32 hexadecimal digits.
public enum TwilioSID {
    public static func isValid(_ sid: String, prefix: String? = nil) -> Bool {
        let bytes = Array(sid.utf8)
        guard bytes.count == 34, bytes[0] >= 65, bytes[0] <= 90, bytes[1] >= 65, bytes[1] <= 90 else { return false }
        if let prefix, !sid.hasPrefix(prefix) { return false }
        return bytes[2...].allSatisfy { (48...57).contains($0) || (97...102).contains($0) || (65...70).contains($0) }
    }
}
