import Foundation
import Postgres

/// CPU time, read from `/proc`, for a benchmark to say who spent it: the database server, this
/// process (the worker runs in it) or its children (pgbench). Linux only; a server on another
/// machine (or in another PID namespace) has no figure.
struct CPUTime {
    /// Seconds of CPU so far: user + system.
    typealias Reading = Double

    private static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces).
    private static func statFields(_ pid: Int32) -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = text.lastIndex(of: ")")
        else { return nil }
        return text[text.index(after: end)...].split(separator: " ")
    }

    // Field numbers of proc(5) minus 3: state is field 3, ppid 4, utime 14, stime 15, cutime 16, cstime 17.
    private static func parent(_ fields: [Substring]) -> Int32? { Int32(fields[1]) }
    private static func own(_ fields: [Substring]) -> Double {
        (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
    }
    private static func reaped(_ fields: [Substring]) -> Double {
        (Double(fields[13]) ?? 0) + (Double(fields[14]) ?? 0)
    }

    /// This process, its threads included.
    static func ofThisProcess() -> Reading {
        statFields(getpid()).map { own($0) / ticksPerSecond } ?? 0
    }

    /// Children of this process that have exited and were waited for (pgbench).
    static func ofReapedChildren() -> Reading {
        statFields(getpid()).map { reaped($0) / ticksPerSecond } ?? 0
    }

    /// A PostgreSQL server on this machine: its postmaster, found from a backend's process id.
    struct Server {
        let postmaster: Int32

        /// Nil when the server is not a local process this one can see.
        static func locate(_ pool: PostgresPool) async throws -> Server? {
            let backend = try await pool.query("SELECT pg_backend_pid()")[0].decode(Int32.self, at: 0)
            guard let command = try? String(contentsOfFile: "/proc/\(backend)/cmdline", encoding: .utf8),
                command.hasPrefix("postgres"), let fields = CPUTime.statFields(backend),
                let postmaster = CPUTime.parent(fields)
            else { return nil }
            return Server(postmaster: postmaster)
        }

        /// The postmaster, its live children (backends, background processes) and the children
        /// that exited (the postmaster waits for them, so their time is in its own reaped total).
        func reading() -> Reading {
            guard let postmasterFields = CPUTime.statFields(postmaster) else { return 0 }
            var ticks = CPUTime.own(postmasterFields) + CPUTime.reaped(postmasterFields)
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            for entry in entries {
                guard let pid = Int32(entry), let fields = CPUTime.statFields(pid),
                    CPUTime.parent(fields) == postmaster
                else { continue }
                ticks += CPUTime.own(fields)
            }
            return ticks / CPUTime.ticksPerSecond
        }
    }
}
