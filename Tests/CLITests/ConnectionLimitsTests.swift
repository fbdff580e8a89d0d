import EmbeddedPostgres
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 11 §1: idle connections, half-sent headers and half-sent bodies stayed open for ever, and
/// enough of them made the process run out of file descriptors and die. Here `switchboard webhook`
/// runs with 256 descriptors and 1-2 second timeouts while 350 such clients connect: each is closed
/// by the server, the process lives, and it answers afterwards.
@Suite struct ConnectionLimitsTests {
    @Test func hostileClientsAreClosedAndNeverExhaustTheDescriptors() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "c0ee", count: 8), token: "connection-limits-token-01")
            defer { sandbox.stop() }
            let port = try freeLoopbackPort()
            var environment = sandbox.environment
            environment["SWITCHBOARD_PUBLIC_URL"] = "http://127.0.0.1:\(port)"
            let webhook = try ChildProcess(
                "/usr/bin/prlimit",
                [
                    "--nofile=256:256", try switchboardBinary(), "webhook", "--host", "127.0.0.1", "--port", "\(port)",
                    "--idle-timeout", "2s", "--body-timeout", "1s",
                ], environment: environment)
            defer { webhook.signal(SIGKILL) }
            #expect(await eventually(timeout: .seconds(20)) { try await Self.health(port) }, "\(webhook.output)")
            // Room for the clients, given back afterwards: later tests' processes inherit this
            // process's limit, and a test balancer with thousands of descriptors behaves differently
            // under a flood of callbacks (it stops pushing back at accept).
            let ownLimit = raiseOwnDescriptorLimit()
            defer { restoreOwnDescriptorLimit(ownLimit) }

            let clients = try (0..<350).map { n in try RawClient(port: port, kind: n % 3) }
            defer { clients.forEach { $0.close() } }
            let closed = await eventually(timeout: .seconds(60)) { clients.allSatisfy { $0.serverClosed() } }
            let open = clients.filter { !$0.serverClosed() }.count
            #expect(closed, "\(open) of \(clients.count) connections still open")
            let answered408 = clients.filter { $0.kind == 2 && $0.received.hasPrefix("HTTP/1.1 408") }.count
            #expect(answered408 > 0, "a body that stops arriving gets 408")
            #expect(kill(webhook.pid, 0) == 0, "the webhook process is alive: \(webhook.output)")
            #expect(await eventually(timeout: .seconds(10)) { try await Self.health(port) }, "\(webhook.output)")
            #expect(!webhook.output.contains("Fatal error"), "\(webhook.output)")
        }
    }

    static func health(_ port: Int) async throws -> Bool {
        let probe = try ChildProcess("/usr/bin/curl", ["-s", "-m", "2", "http://127.0.0.1:\(port)/health"])
        return await probe.wait() == 0 && probe.output == "ok"
    }

    /// Raises the soft limit to the hard one; returns the limit as it was.
    func raiseOwnDescriptorLimit() -> rlimit {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised)
        return limit
    }

    func restoreOwnDescriptorLimit(_ limit: rlimit) {
        var limit = limit
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}

/// One hostile client: 0 sends nothing, 1 stops in the middle of its headers, 2 sends headers and
/// a tenth of the body it announced.
final class RawClient: @unchecked Sendable {
    let fd: Int32
    let kind: Int
    private let lock = NSLock()
    private var sawEOF = false
    private var bytes: [UInt8] = []

    init(port: Int, kind: Int) throws {
        self.kind = kind
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw ChildProcess.Failure(description: "connect failed: errno \(errno)")
        }
        let text: String
        switch kind {
        case 1: text = "POST /twilio/messages/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Twilio-Sig"
        case 2:
            text =
                "POST /twilio/messages/status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                + "X-Twilio-Signature: x\r\nContent-Length: 1000\r\n\r\nAccountSid=AC0123456789abcdef0123456789abcdef&Mess"
        default: text = ""
        }
        if !text.isEmpty { _ = text.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) } }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    /// Whether the server has closed the connection (reads what it sent first).
    func serverClosed() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if sawEOF { return true }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count > 0 {
                bytes += buffer[0..<count]
                continue
            }
            if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) { sawEOF = true }
            return sawEOF
        }
    }

    var received: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: bytes, as: UTF8.self)
    }

    func close() { Glibc.close(fd) }
}
