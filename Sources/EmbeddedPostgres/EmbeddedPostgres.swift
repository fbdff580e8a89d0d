import Foundation

/// A throwaway PostgreSQL server for the demo, the benchmarks and the tests: `initdb` into a
/// temporary directory (as the `postgres` user when running as root, since the server refuses
/// root), a free loopback port, a private socket directory.
///
/// A watchdog process stops the server and deletes its directory when the owning process exits,
/// even if it crashes, so nothing is left running.
public final class EmbeddedPostgres: Sendable {
    public struct Options: Sendable {
        /// `false` (tests): fsync and full_page_writes off.
        /// `true` (benchmarks): the server's durable defaults.
        public var durable: Bool
        public var maxConnections: Int
        /// Extra `postgresql.conf` lines.
        public var extraSettings: [String]
        /// `pg_hba.conf` lines placed before the default `trust` rules (e.g. to require a password).
        public var hbaRules: [String]

        public init(
            durable: Bool = false, maxConnections: Int = 200, extraSettings: [String] = [], hbaRules: [String] = []
        ) {
            self.durable = durable
            self.maxConnections = maxConnections
            self.extraSettings = extraSettings
            self.hbaRules = hbaRules
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let directory: String
    public let port: Int
    let binDirectory: String

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    public func url(database: String) -> String { "postgres://postgres@127.0.0.1:\(port)/\(database)" }

    private init(directory: String, port: Int, binDirectory: String) {
        self.directory = directory
        self.port = port
        self.binDirectory = binDirectory
    }

    /// Creates and starts a new cluster on a thread of its own (it blocks for about two seconds,
    /// which must not happen on Swift's cooperative pool).
    public static func start(_ options: Options = Options()) async throws -> EmbeddedPostgres {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try startBlocking(options) }) }.start()
        }
    }

    /// Creates and starts a new cluster, blocking the calling thread for about two seconds.
    public static func startBlocking(_ options: Options = Options()) throws -> EmbeddedPostgres {
        let bin = try findBinDirectory()
        let isRoot = getuid() == 0
        if isRoot { try ensurePostgresUser() }
        let directory = try makeTemporaryDirectory()
        do {
            try FileManager.default.createDirectory(atPath: directory + "/sock", withIntermediateDirectories: true)
            if isRoot { try run("/bin/chown", ["-R", "postgres:", directory]) }
            try runAsOwner(
                bin + "/initdb",
                ["-D", directory + "/data", "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
                workingDirectory: directory)
            var settings = [
                "listen_addresses = '127.0.0.1'",
                "unix_socket_directories = '\(directory)/sock'",
                "max_connections = \(options.maxConnections)",
                "shared_buffers = 128MB",
                "max_wal_size = 1GB",
                "log_min_messages = warning",
            ]
            if !options.durable {
                // Commits still reach the OS (synchronous_commit stays on), so a server crash loses
                // nothing; only an OS crash would.
                settings += ["fsync = off", "full_page_writes = off"]
            }
            settings += options.extraSettings
            let config = directory + "/data/postgresql.conf"
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: config))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(("\n" + settings.joined(separator: "\n") + "\n").utf8))
            try handle.close()
            if !options.hbaRules.isEmpty {
                let hba = directory + "/data/pg_hba.conf"
                let existing = try String(contentsOfFile: hba, encoding: .utf8)
                try (options.hbaRules.joined(separator: "\n") + "\n" + existing).write(
                    toFile: hba, atomically: false, encoding: .utf8)
            }
            var lastError = ""
            for _ in 0..<5 {
                let port = try freePort()
                let server = EmbeddedPostgres(directory: directory, port: port, binDirectory: bin)
                do {
                    try server.startServer()
                    server.startWatchdog()
                    return server
                } catch {
                    lastError = "\(error)"
                }
            }
            throw Failure(description: "PostgreSQL did not start: \(lastError)")
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    /// Starts the server process (again) on the same port and data directory.
    public func startServer() throws {
        try Self.runAsOwner(
            binDirectory + "/pg_ctl",
            [
                "-D", directory + "/data", "-l", directory + "/server.log", "-o", "-p \(port)", "-w", "-t", "60",
                "start",
            ],
            workingDirectory: directory)
    }

    /// Stops the server process immediately (like a crash), keeping the data directory.
    public func stopServer() throws {
        try Self.runAsOwner(
            binDirectory + "/pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "-t", "30", "stop"],
            workingDirectory: directory)
    }

    /// Stops the server and deletes its directory.
    public func destroy() {
        try? stopServer()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func startWatchdog() {
        let script = """
            while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done
            \(Self.ownerPrefix)'\(binDirectory)/pg_ctl' -D '\(directory)/data' -m immediate -w stop >/dev/null 2>&1
            rm -rf '\(directory)'
            """
        try? ChildProcess.launchDetached("/bin/sh", ["-c", script])
    }

    // MARK: helpers

    private static var ownerPrefix: String { getuid() == 0 ? "runuser -u postgres -- " : "" }

    /// Where the server binaries are (`initdb`, `pg_ctl`, `pgbench`): `PG_BINDIR`, `pg_config --bindir`,
    /// or the newest `/usr/lib/postgresql/*/bin`.
    public static func findBinDirectory() throws -> String {
        if let configured = ProcessInfo.processInfo.environment["PG_BINDIR"] {
            return configured
        }
        if let output = try? capture("/usr/bin/env", ["pg_config", "--bindir"]),
            FileManager.default.isExecutableFile(atPath: output + "/initdb")
        {
            return output
        }
        let base = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            let bin = "\(base)/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: bin + "/initdb") { return bin }
        }
        throw Failure(
            description:
                "no PostgreSQL server found (initdb): install it (apt-get install postgresql-15) or set PG_BINDIR")
    }

    private static func ensurePostgresUser() throws {
        if (try? capture("/usr/bin/id", ["-u", "postgres"])) != nil { return }
        try run("/usr/sbin/useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"])
    }

    private static func makeTemporaryDirectory() throws -> String {
        var template = Array("/tmp/sbpg.XXXXXX".utf8CString)
        guard let pointer = mkdtemp(&template) else {
            throw Failure(description: "cannot create a temporary directory in /tmp")
        }
        let path = String(cString: pointer)
        chmod(path, 0o755)
        return path
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago (for servers whose URL must be known
    /// before they start, e.g. to sign requests over it).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw Failure(description: "bind() failed") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw Failure(description: "getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func runAsOwner(_ tool: String, _ arguments: [String], workingDirectory: String) throws {
        if getuid() == 0 {
            try run(
                "/usr/sbin/runuser", ["-u", "postgres", "--", tool] + arguments, workingDirectory: workingDirectory)
        } else {
            try run(tool, arguments, workingDirectory: workingDirectory)
        }
    }

    @discardableResult
    static func run(_ tool: String, _ arguments: [String], workingDirectory: String = "/") throws -> String {
        try ChildProcess.run(tool, arguments, workingDirectory: workingDirectory)
    }

    private static func capture(_ tool: String, _ arguments: [String]) throws -> String {
        try run(tool, arguments).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
