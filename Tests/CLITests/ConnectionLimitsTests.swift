import EmbeddedPostgres
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 11 §1: idle connections, half-sent headers and half-sent bodies stayed open for ever, and
/// enough of them made the process run out of file descriptors and die. Here `switchboard webhook`
/// runs with 256 descriptors and 1-2 second timeouts while 350 such clients connect (a quarter of them
/// trickling their headers, which must not count as activity): each is closed
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

            let clients = try (0..<350).map { n in try RawClient(port: port, kind: n % 4) }
            defer { clients.forEach { $0.close() } }
            let trickler = RawClient.trickling(clients)
            defer { trickler.cancel() }
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

    /// The worker's metrics port has the same limits. When it had none, hostile clients there took
    /// the descriptors the worker needs for PostgreSQL and Twilio, and the worker died with jobs
    /// `running`. Here 300 such clients (a quarter trickling) hold the port of a worker with 256 descriptors while it
    /// sends 60 messages: every message is sent once, no job is left running, the worker lives.
    @Test func hostileClientsOnTheMetricsPortDoNotStopAWorker() async throws {
        try await TestDatabase.with { db in
            let sandbox = try await CLISandbox.start(
                db, accountSID: "AC" + String(repeating: "3e7c", count: 8), token: "metrics-limits-token-001")
            defer { sandbox.stop() }
            let port = try freeLoopbackPort()
            let worker = try ChildProcess(
                "/usr/bin/prlimit",
                [
                    "--nofile=256:256", try switchboardBinary(), "worker", "--metrics-host", "127.0.0.1",
                    "--metrics-port", "\(port)", "--poll-interval", "200ms",
                ], environment: sandbox.environment)
            defer { worker.signal(SIGKILL) }
            #expect(await eventually(timeout: .seconds(20)) { try await Self.health(port) }, "\(worker.output)")
            let ownLimit = raiseOwnDescriptorLimit()
            defer { restoreOwnDescriptorLimit(ownLimit) }

            let clients = try (0..<300).map { n in try RawClient(port: port, kind: n % 4) }
            defer { clients.forEach { $0.close() } }
            let trickler = RawClient.trickling(clients)
            defer { trickler.cancel() }
            try await db.pool.query(
                """
                SELECT count(*) FROM (
                    SELECT switchboard.enqueue('sms', jsonb_build_object('account', 'main', 'from', '+15557654321',
                        'to', '+1555010' || lpad(n::text, 4, '0'), 'body', 'Hello'))
                    FROM generate_series(1, 60) AS n) AS enqueued
                """)
            let completed = await eventually(timeout: .seconds(60)) { try await db.jobCount(state: "completed") == 60 }
            let completedCount = try await db.jobCount(state: "completed")
            #expect(completed, "\(completedCount) of 60 completed: \(worker.output)")
            #expect(kill(worker.pid, 0) == 0, "the worker is alive: \(worker.output)")
            #expect(try await db.jobCount(state: "running") == 0)
            // Sent while every hostile client still held its connection (the port closes them only
            // after its 30 s idle timeout): they never had the descriptors the sends needed.
            let closedByTheWorker = clients.filter { $0.serverClosed() }.count
            #expect(closedByTheWorker == 0, "\(closedByTheWorker) hostile connections closed before the sends finished")
            let received = try await sandbox.receivedMessages()
            #expect(received.count == 60 && Set(received.map(\.to)).count == 60)
            // Once the clients are gone, the port serves again.
            clients.forEach { $0.close() }
            #expect(await eventually(timeout: .seconds(40)) { try await Self.health(port) }, "\(worker.output)")
            #expect(!worker.output.contains("Fatal error"), "\(worker.output)")
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
/// a tenth of the body it announced, 3 sends its headers a byte at a time (`trickle()`, slowloris).
///
/// Closing is idempotent and every use after it is a no-op: a descriptor number is reused at once
/// by whatever the process opens next (in a parallel suite, another test's socket), so a second
/// close, a read or a trickled byte after the first close would act on someone else's connection.
final class RawClient: @unchecked Sendable {
    private var fd: Int32
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
        case 1, 3: text = "POST /twilio/messages/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Twilio-Sig"
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
        if sawEOF || fd < 0 { return true }
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

    /// One more byte of an endless header (never idle, never complete).
    func trickle() {
        lock.lock()
        defer { lock.unlock() }
        if !sawEOF, fd >= 0 { _ = "a".withCString { send(fd, $0, 1, Int32(MSG_NOSIGNAL)) } }
    }

    /// Sends a byte every 200 ms on each trickling client until cancelled.
    static func trickling(_ clients: [RawClient]) -> Task<Void, Never> {
        let tricklers = clients.filter { $0.kind == 3 }
        return Task {
            while !Task.isCancelled {
                tricklers.forEach { $0.trickle() }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    var received: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: bytes, as: UTF8.self)
    }

    func close() {
        lock.lock()
        defer { lock.unlock() }
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
    }
}
