import Foundation

/// A child process started with `posix_spawn`, its output (stdout and stderr) going to a
/// temporary file.
///
/// Foundation's `Process` was seen to hang in `waitUntilExit` when several were started from
/// concurrent tasks, and a pipe for output stays open as long as a forked server inherits it.
///
/// The child inherits no descriptor but its standard input, output and error. `posix_spawn` passes
/// on every descriptor not marked close-on-exec: a webhook child started with a 256-descriptor
/// limit beside a test holding 300 sockets got descriptors numbered past its limit, and NIO's
/// selector, finding no room for its timer descriptor, crashed the process at start.
public final class ChildProcess: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public let pid: pid_t
    public let tool: String
    let outputPath: String

    /// Starts `tool` with `arguments`; `environment` entries are added to this process's.
    public init(
        _ tool: String, _ arguments: [String], workingDirectory: String = "/", environment: [String: String] = [:],
        newSession: Bool = false
    ) throws {
        self.tool = tool
        outputPath = NSTemporaryDirectory() + "sb-child-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        try Self.closeInheritedDescriptors(&actions)
        // Glibc's chdir and setsid spawn attributes are not visible to Swift: let sh and setsid do them.
        var command = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", workingDirectory, tool] + arguments
        if newSession { command = ["/usr/bin/setsid"] + command }
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        // A child starts with no signal blocked and default handlers: it inherits the spawning
        // thread's mask otherwise, and a Swift process serving signals (ServiceLifecycle) blocks
        // SIGTERM — its children could then never be stopped by it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let result = posix_spawn(&pid, command[0], &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw Failure(description: "cannot start \(tool): \(String(cString: strerror(result)))")
        }
        self.pid = pid
    }

    deinit { unlink(outputPath) }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34) is declared only under
    /// `_GNU_SOURCE`, which Swift's Glibc module does not define: found at run time instead.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
        else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) throws {
        guard let addCloseFrom else {
            throw Failure(description: "this C library has no posix_spawn_file_actions_addclosefrom_np (glibc 2.34+)")
        }
        let result = addCloseFrom(&actions, 3)
        guard result == 0 else {
            throw Failure(description: "cannot close inherited descriptors: \(String(cString: strerror(result)))")
        }
    }

    /// Everything the process wrote so far.
    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    public func signal(_ signal: Int32) { kill(pid, signal) }

    /// Blocks until the process exits; returns its exit status (128 + signal if killed).
    public func waitBlocking() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }

    /// Waits for exit on a thread of its own (never blocking Swift's cooperative pool).
    public func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: self.waitBlocking()) }.start()
        }
    }

    /// Runs `tool` to completion and returns its output; throws on a non-zero exit.
    @discardableResult
    public static func run(_ tool: String, _ arguments: [String], workingDirectory: String = "/") throws -> String {
        let child = try ChildProcess(tool, arguments, workingDirectory: workingDirectory)
        let status = child.waitBlocking()
        let output = child.output
        guard status == 0 else {
            let name = (tool as NSString).lastPathComponent
            throw Failure(description: "\(name) failed (status \(status)): \(output.suffix(800))")
        }
        return output
    }

    /// Starts `tool` in a new session and does not wait for it.
    static func launchDetached(_ tool: String, _ arguments: [String]) throws {
        _ = try ChildProcess(tool, arguments, newSession: true)
    }
}
