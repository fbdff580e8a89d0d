/// Parses the part of a `postgres://` URL after the scheme into libpq keywords, following libpq's
/// URI rules (percent-encoding, `[v6]:port`, comma-separated hosts, query parameters as keywords).
enum URLParser {
    ///
    /// Errors never quote the user information: a password with an unencoded `/`, `?`, `#` or `@`
    /// would otherwise be split into "host", "port" or "database" and echoed in the message.
    static func parse(_ rest: String) throws -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = []
        // As libpq does: user information runs up to an '@' met before any '/'. A '?' or '#' in a
        // password is part of it.
        var userInfo: Substring?
        var remainder = Substring(rest)
        if let end = remainder.firstIndex(where: { $0 == "@" || $0 == "/" }), remainder[end] == "@" {
            // The last '@' before the first '/' after it ends the user information (an '@' in a password).
            let afterFirst = remainder[remainder.index(after: end)...]
            let slash = afterFirst.firstIndex(of: "/") ?? afterFirst.endIndex
            let at = remainder[..<slash].lastIndex(of: "@") ?? end
            userInfo = remainder[..<at]
            remainder = remainder[remainder.index(after: at)...]
        } else if let slash = remainder.firstIndex(of: "/"), remainder[slash...].contains("@"),
            remainder[..<slash].contains(":")
        {
            // `user:pa/ss@host`: the '/' ended the authority inside the password.
            throw PostgresError(
                .invalidConfiguration,
                message: "database URL: the user name or password seems to contain an unencoded '/'; "
                    + "percent-encode it (/ as %2F, ? as %3F, # as %23, @ as %40)")
        }
        var query: Substring = ""
        if let q = remainder.firstIndex(of: "?") {
            query = remainder[remainder.index(after: q)...]
            remainder = remainder[..<q]
        }
        var authority = remainder
        var path: Substring = ""
        if let slash = remainder.firstIndex(of: "/") {
            authority = remainder[..<slash]
            path = remainder[remainder.index(after: slash)...]
        }
        let hostPart = authority
        if let userInfo {
            if let colon = userInfo.firstIndex(of: ":") {
                let user = try decode(userInfo[..<colon], field: "user")
                let password = try decode(userInfo[userInfo.index(after: colon)...], field: "password")
                if !user.isEmpty { result.append(("user", user)) }
                result.append(("password", password))
            } else if !userInfo.isEmpty {
                result.append(("user", try decode(userInfo, field: "user")))
            }
        }
        if !hostPart.isEmpty {
            var hosts: [String] = []
            var ports: [String] = []
            for spec in hostPart.split(separator: ",", omittingEmptySubsequences: false) {
                let (host, port) = try splitHostPort(spec)
                hosts.append(host)
                ports.append(port ?? "")
            }
            result.append(("host", hosts.joined(separator: ",")))
            if ports.contains(where: { !$0.isEmpty }) { result.append(("port", ports.joined(separator: ","))) }
        }
        if !path.isEmpty {
            let database = try decode(path, field: "database name")
            if database.contains("/") {
                throw PostgresError(
                    .invalidConfiguration, message: "database URL: the database name must not contain '/'")
            }
            result.append(("dbname", database))
        }
        for item in query.split(separator: "&") where !item.isEmpty {
            guard let eq = item.firstIndex(of: "=") else {
                throw PostgresError(
                    .invalidConfiguration, message: "database URL: a query parameter has no '=value'")
            }
            var key = try decode(item[..<eq], field: "query parameter name")
            var value = try decode(item[item.index(after: eq)...], field: "query parameter '\(key)'")
            if key == "ssl" && value == "true" {  // JDBC-style spelling that libpq also accepts
                key = "sslmode"
                value = "require"
            }
            guard PostgresConfiguration.knownKeywords.contains(key) else {
                throw PostgresError(
                    .invalidConfiguration, message: "database URL: unknown query parameter '\(key)'")
            }
            if key == "password" { result.removeAll { $0.key == "password" } }
            result.append((key, value))
        }
        return result
    }

    private static func splitHostPort(_ spec: Substring) throws -> (String, String?) {
        var host: Substring
        var port: Substring?
        if spec.hasPrefix("[") {
            guard let close = spec.firstIndex(of: "]") else {
                throw PostgresError(
                    .invalidConfiguration, message: "database URL: an IPv6 host is missing its closing ']'")
            }
            host = spec[spec.index(after: spec.startIndex)..<close]
            let after = spec[spec.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    throw PostgresError(
                        .invalidConfiguration, message: "database URL: unexpected text after an IPv6 host")
                }
                port = after.dropFirst()
            }
        } else if let colon = spec.lastIndex(of: ":") {
            host = spec[..<colon]
            port = spec[spec.index(after: colon)...]
        } else {
            host = spec
        }
        if let port {
            guard let number = Int(port), (1...65535).contains(number) else {
                throw PostgresError(
                    .invalidConfiguration,
                    message: "database URL: the port is not a number between 1 and 65535")
            }
        }
        return (try decode(host, field: "host"), port.map(String.init))
    }

    static func decode(_ text: Substring, field: String) throws -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard iterator.count >= 2, let high = hexValue(iterator.popFirst()!),
                let low = hexValue(iterator.popFirst()!)
            else {
                // Never echo the URL's text: a misplaced separator can put part of a password anywhere.
                throw PostgresError(
                    .invalidConfiguration, message: "database URL: invalid percent-encoding in the \(field)")
            }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
