import Crypto
import Foundation
import SwitchboardCore

/// `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, URL + sorted parameters)), as Twilio signs
/// webhooks and as the simulator signs its callbacks (twilio-facts.md §4).
public enum TwilioSignature {
    /// The signature over `url` and form `parameters`.
    public static func compute(url: String, parameters: FormParameters, authToken: String) -> String {
        var payload = url
        // Ordinal (code-point) order of keys; repeated keys contribute each distinct value, sorted.
        let byName = Dictionary(grouping: parameters.pairs, by: \.name)
        for name in byName.keys.sorted(by: {
            Array($0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.unicodeScalars.map(\.value))
        }) {
            let values = Set(byName[name]!.map(\.value)).sorted {
                Array($0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.unicodeScalars.map(\.value))
            }
            for value in values { payload += name + value }
        }
        let key = SymmetricKey(data: Data(authToken.utf8))
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(payload.utf8), using: key)
        return Data(mac).base64EncodedString()
    }

    /// Checks a signature in constant time, accepting both port variants of the URL (Twilio signs
    /// inconsistently with and without the default port).
    public static func isValid(signature: String, url: String, parameters: FormParameters, authToken: String) -> Bool {
        var matched = false
        for candidate in urlVariants(url) {
            let expected = compute(url: candidate, parameters: parameters, authToken: authToken)
            // Evaluate every variant so timing does not reveal which one matched.
            if ConstantTime.equals(expected, signature) { matched = true }
        }
        return matched
    }

    /// For JSON bodies: the URL carries `bodySHA256`, which must match the body, and the signature
    /// is over the URL alone.
    public static func isValidJSON(signature: String, url: String, body: Data, authToken: String) -> Bool {
        guard let components = URLComponents(string: url),
            let claimed = components.queryItems?.first(where: { $0.name == "bodySHA256" })?.value
        else { return false }
        let digest = SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
        let urlValid = isValid(signature: signature, url: url, parameters: FormParameters(), authToken: authToken)
        return urlValid && ConstantTime.equals(digest, claimed)
    }

    /// The URL as given, with the default port removed, and with the default port added.
    static func urlVariants(_ url: String) -> [String] {
        guard var components = URLComponents(string: url), let scheme = components.scheme else { return [url] }
        let defaultPort = scheme == "https" ? 443 : 80
        var withoutPort = components
        withoutPort.port = nil
        if components.port == nil { components.port = defaultPort }
        return Array(Set([url, withoutPort.string ?? url, components.string ?? url]))
    }
}
