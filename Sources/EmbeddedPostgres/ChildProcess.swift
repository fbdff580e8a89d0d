import Foundation

/// Runs helper programs with `posix_spawn` and `waitpid`.
///
/// Foundation's `Process` was seen to hang in `waitUntilExit` when several were started from
/// concurrent tasks, and a pipe for its output stays open as long as a forked server inherits it;
/// this writes output to a temporary file instead.
enum ChildProcess {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `tool` and waits; returns its output (stdout and stderr). Throws on a non-zero exit.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String], workingDirectory: String = "/") throws -> String {
        let outputPath = NSTemporaryDirectory() + "sb-child-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { unlink(outputPath) }
        let pid = try spawn(tool, arguments, workingDirectory: workingDirectory, outputPath: outputPath, detached: false)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw Failure(description: "waitpid failed for \(tool): errno \(errno)") }
        }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let name = (tool as NSString).lastPathComponent
            throw Failure(description: "\(name) failed (status \(exited ? code : -1)): \(output.suffix(800))")
        }
        return output
    }

    /// Starts `tool` in a new session and does not wait for it.
    static func launchDetached(_ tool: String, _ arguments: [String]) throws {
        _ = try spawn(tool, arguments, workingDirectory: "/", outputPath: "/dev/null", detached: true)
    }

    private static func spawn(
        _ tool: String, _ arguments: [String], workingDirectory: String, outputPath: String, detached: Bool
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Glibc's chdir and setsid spawn attributes are not visible to Swift: let sh and setsid do them.
        var command = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", workingDirectory, tool] + arguments
        if detached { command = ["/usr/bin/setsid"] + command }
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, command[0], &actions, nil, argv, environ)
        guard result == 0 else {
            throw Failure(description: "cannot start \(tool): \(String(cString: strerror(result)))")
        }
        return pid
    }
}
