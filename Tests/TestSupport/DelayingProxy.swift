import Foundation
import Postgres
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP proxy on 127.0.0.1 that delays every byte by `delay` in each direction, as a database a
/// few milliseconds away across a network would: a round trip costs `2 × delay` more. Order is
/// kept; each connection has a reader and a writer thread per direction (tests open a handful).
public final class DelayingProxy: Sendable {
    public let port: Int
    private let listener: Int32
    private let sockets = Mutex<[Int32]>([])
    private let stopped = Atomic<Bool>(false)

    public init(targetHost: String, targetPort: Int, delay: Duration) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ProxyError(description: "socket: \(errno)") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.address("127.0.0.1", 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw ProxyError(description: "bind/listen: \(errno)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: actual.sin_port))
        let target = Self.address(targetHost, targetPort)
        let thread = Thread { [self] in acceptLoop(target: target, delay: delay) }
        thread.start()
    }

    /// A proxy in front of `configuration`'s server, and the configuration that goes through it.
    public static func inFront(of configuration: PostgresConfiguration, delay: Duration) throws
        -> (proxy: DelayingProxy, configuration: PostgresConfiguration)
    {
        let proxy = try DelayingProxy(
            targetHost: configuration["host"] ?? "127.0.0.1", targetPort: Int(configuration["port"] ?? "") ?? 5432,
            delay: delay)
        var through = configuration
        through["host"] = "127.0.0.1"
        through["hostaddr"] = nil
        through["port"] = "\(proxy.port)"
        return (proxy, through)
    }

    /// Stops accepting and shuts every proxied connection down. The accept loop closes the
    /// listener itself when it ends: closed here, its number could be reused by another test's
    /// socket before the loop's next `accept`.
    public func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        for fd in sockets.withLock({ $0 }) { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    deinit { stop() }

    private func acceptLoop(target: sockaddr_in, delay: Duration) {
        defer { close(listener) }
        while !stopped.load(ordering: .acquiring) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                if errno == EINTR { continue }
                return
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var target = target
            let connected = withUnsafePointer(to: &target) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                close(client)
                close(upstream)
                continue
            }
            var noDelay: Int32 = 1
            for fd in [client, upstream] {
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
            }
            sockets.withLock { $0 += [client, upstream] }
            Self.pump(from: client, to: upstream, delay: delay)
            Self.pump(from: upstream, to: client, delay: delay)
        }
    }

    /// Reads chunks as they come and writes each one `delay` after it arrived.
    private static func pump(from source: Int32, to destination: Int32, delay: Duration) {
        let queue = ChunkQueue()
        Thread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(source, &buffer, buffer.count)
                if count <= 0 {
                    queue.push(nil)
                    return
                }
                queue.push((ContinuousClock.now + delay, Array(buffer[0..<count])))
            }
        }.start()
        Thread {
            while let (due, bytes) = queue.pop() {
                let wait = due - ContinuousClock.now
                if wait > .zero {
                    let nanos = wait.components.seconds * 1_000_000_000 + wait.components.attoseconds / 1_000_000_000
                    var spec = timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
                    var remaining = timespec()
                    while nanosleep(&spec, &remaining) != 0 && errno == EINTR { spec = remaining }
                }
                var offset = 0
                while offset < bytes.count {
                    let written = bytes[offset...].withUnsafeBytes { write(destination, $0.baseAddress, $0.count) }
                    if written <= 0 { break }
                    offset += written
                }
                if offset < bytes.count { break }
            }
            shutdown(destination, Int32(SHUT_WR))
            shutdown(source, Int32(SHUT_RD))
        }.start()
    }

    private static func address(_ host: String, _ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        return address
    }

    struct ProxyError: Error, CustomStringConvertible { var description: String }
}

/// A blocking FIFO between a reader and a writer thread; `nil` ends it.
private final class ChunkQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [(ContinuousClock.Instant, [UInt8])?] = []

    func push(_ item: (ContinuousClock.Instant, [UInt8])?) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    func pop() -> (ContinuousClock.Instant, [UInt8])? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty { condition.wait() }
        return items.removeFirst()
    }
}
