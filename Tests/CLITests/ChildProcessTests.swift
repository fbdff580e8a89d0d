import EmbeddedPostgres
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A child started by `ChildProcess` inherits only its standard descriptors. Before, every socket
/// of the test process not marked close-on-exec went along, and a child with a low descriptor
/// limit crashed at start (ConnectionLimitsTests, beside a test holding 300 sockets).
@Suite struct ChildProcessTests {
    @Test func aChildInheritsOnlyItsStandardDescriptors() throws {
        // Sockets without SOCK_CLOEXEC, as a test client (or a C library) opens them.
        let sockets = (0..<8).map { _ in socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0) }
        defer { sockets.forEach { _ = Glibc.close($0) } }
        #expect(sockets.allSatisfy { $0 > 2 })
        // ls lists its own descriptors: 0-2, and the one it opens to read the directory.
        let listed = try ChildProcess.run("/bin/ls", ["/proc/self/fd"])
            .split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
        let inherited = listed.filter { $0 > 2 && sockets.contains($0) }
        #expect(inherited.isEmpty, "the child held the parent's sockets \(inherited) (it listed \(listed))")
        #expect(listed.count <= 4, "the child had descriptors \(listed)")
    }
}
