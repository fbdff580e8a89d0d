import EmbeddedPostgres
import Foundation
import Postgres

/// The reference `bench queue` measures its drain against, on the same server in the same run:
/// Switchboard's claim and completion in plain SQL, run by `pgbench` (PostgreSQL's own load
/// generator) with no Swift in between. Each pgbench "transaction" is one batch: claim 100
/// available no-op jobs with `FOR UPDATE SKIP LOCKED` in one transaction (the worker's claim
/// statement), complete them by id in a second (the worker's finish, reduced to its state
/// change). The drain's ratio to this loop says how much the worker adds to the database's own
/// cost; a ratio that falls between runs points at the worker, one that holds at the server.
struct ClaimLoopReference {
    static let batch = 100

    static let script = """
        BEGIN;
        WITH locked AS (
            SELECT id FROM switchboard.jobs
            WHERE state = 'available' AND queue = 'default' AND run_at <= now() AND kind = 'noop'
            ORDER BY priority, run_at, id LIMIT \(batch) FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE switchboard.jobs j SET state = 'running', attempt = j.attempt + 1, attempted_at = now(),
                locked_by = 'pgbench', locked_until = now() + interval '60 seconds'
            FROM locked WHERE j.id = locked.id RETURNING j.id
        )
        SELECT coalesce(string_agg(id::text, ','), '0') AS ids FROM claimed \\gset
        COMMIT;
        UPDATE switchboard.jobs SET state = 'completed', finished_at = now(), locked_by = NULL, locked_until = NULL
        WHERE id IN (:ids) AND state = 'running';
        """

    /// Where pgbench is, if it is installed.
    static var pgbench: String? {
        ["/usr/bin/pgbench", "/usr/lib/postgresql/15/bin/pgbench"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// Runs the loop over `jobs` queued no-op jobs with `clients` connections; returns rows per
    /// second (pgbench's batches per second, without connection set-up, times the batch).
    static func run(jobs: Int, clients: Int, database: PostgresConfiguration) async throws -> Double {
        guard let pgbench else { throw CommandFailure("pgbench is not installed") }
        let path = NSTemporaryDirectory() + "switchboard-claim-loop-\(getpid()).sql"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let batches = jobs / (batch * clients)
        // The password, if any, goes in the environment: a command line is visible to every user.
        var target = database
        let password = target["password"]
        target["password"] = nil
        // -n: no vacuum of pgbench's own tables (there are none here).
        let child = try ChildProcess(
            pgbench, ["-n", "-f", path, "-c", "\(clients)", "-j", "\(clients)", "-t", "\(batches)", target.conninfo],
            environment: password.map { ["PGPASSWORD": $0] } ?? [:])
        let status = await child.wait()
        guard status == 0 else { throw CommandFailure("pgbench failed: \(child.output.suffix(800))") }
        guard let tps = Self.tps(child.output) else {
            throw CommandFailure("pgbench printed no tps: \(child.output.suffix(800))")
        }
        return tps * Double(batch)
    }

    /// pgbench's "tps = 123.4 (without initial connection time)".
    static func tps(_ output: String) -> Double? {
        for line in output.split(separator: "\n") where line.hasPrefix("tps = ") {
            return Double(line.dropFirst("tps = ".count).prefix { $0 == "." || $0.isNumber })
        }
        return nil
    }
}
