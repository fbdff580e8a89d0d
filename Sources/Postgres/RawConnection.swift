import CLibPQ
import Foundation

/// Owns one `PGconn`. Not `Sendable`: it lives inside a `PostgresConnection` actor and is only
/// touched from that actor's dedicated thread. Every method here may block.
final class RawConnection {
    let conn: OpaquePointer

    init(configuration: PostgresConfiguration) throws {
        let keys = configuration.parameters.map { strdup($0.key) } + [nil]
        let values = configuration.parameters.map { strdup($0.value) } + [nil]
        defer {
            keys.forEach { free($0) }
            values.forEach { free($0) }
        }
        let connection = keys.map { $0.map { UnsafePointer($0) } }.withUnsafeBufferPointer { keyBuffer in
            values.map { $0.map { UnsafePointer($0) } }.withUnsafeBufferPointer { valueBuffer in
                PQconnectdbParams(keyBuffer.baseAddress, valueBuffer.baseAddress, 0)
            }
        }
        guard let connection else {
            throw PostgresError(.connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.cleanMessage(PQerrorMessage(connection))
            PQfinish(connection)
            let lowered = message.lowercased()
            let isAuth =
                lowered.contains("authentication failed") || lowered.contains("no password supplied")
                || lowered.contains("password authentication") || lowered.contains("pg_hba.conf")
            throw PostgresError(
                isAuth ? .authenticationFailed : .connectionFailed,
                message: "cannot connect to PostgreSQL (\(Self.target(configuration))): \(message)")
        }
        conn = connection
        // The default notice processor prints NOTICEs to stderr; they are not errors.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
    }

    deinit { PQfinish(conn) }

    static func target(_ configuration: PostgresConfiguration) -> String {
        let host = configuration["host"] ?? configuration["hostaddr"] ?? "local socket"
        let port = configuration["port"] ?? "5432"
        let database = configuration["dbname"].map { ", database \($0)" } ?? ""
        return "\(host):\(port)\(database)"
    }

    static func cleanMessage(_ pointer: UnsafePointer<CChar>?) -> String {
        guard let pointer else { return "unknown error" }
        return String(cString: pointer).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    var isBroken: Bool { PQstatus(conn) != CONNECTION_OK }

    var isIdle: Bool { PQtransactionStatus(conn) == PQTRANS_IDLE }

    var backendPID: Int32 { PQbackendPID(conn) }

    func makeCancelToken() -> CancelToken? {
        PQgetCancel(conn).map(CancelToken.init)
    }

    // MARK: statements

    func execute(_ query: PostgresQuery) throws -> PostgresRows {
        try Self.refuseNUL(in: query)
        let result = withParameters(query.binds) { count, values in
            PQexecParams(conn, query.sql, count, nil, values, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Runs a script of several statements (no parameters), e.g. a migration.
    func executeScript(_ sql: String) throws {
        var last: PostgresRows?
        let ok = PQsendQuery(conn, sql)
        guard ok == 1 else { throw connectionError() }
        var firstError: PostgresError?
        while let result = PQgetResult(conn) {
            do { last = try consume(result) } catch {
                if firstError == nil { firstError = error }
            }
        }
        _ = last
        if let firstError { throw firstError }
    }

    /// Sends every query, then one sync, then reads all results: one round trip for the batch.
    /// A failing query makes the later ones come back as `pipelineAborted`.
    func pipeline(_ queries: [PostgresQuery]) throws -> [Result<PostgresRows, PostgresError>] {
        for query in queries { try Self.refuseNUL(in: query) }
        guard PQenterPipelineMode(conn) == 1 else { throw connectionError() }
        defer { PQexitPipelineMode(conn) }
        for query in queries {
            let sent = withParameters(query.binds) { count, values in
                PQsendQueryParams(conn, query.sql, count, nil, values, nil, nil, 0)
            }
            guard sent == 1 else { throw connectionError() }
        }
        guard PQpipelineSync(conn) == 1 else { throw connectionError() }
        var results: [Result<PostgresRows, PostgresError>] = []
        results.reserveCapacity(queries.count)
        for _ in queries {
            guard let result = PQgetResult(conn) else { throw connectionError() }
            if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
                PQclear(result)
                results.append(
                    .failure(
                        PostgresError(.pipelineAborted, message: "skipped: an earlier statement in the pipeline failed")
                    ))
            } else {
                do {
                    results.append(.success(try consume(result)))
                } catch {
                    results.append(.failure(error))
                }
            }
            // Each query's results end with a NULL.
            while let extra = PQgetResult(conn) { PQclear(extra) }
        }
        // Then the sync marker.
        guard let sync = PQgetResult(conn) else { throw connectionError() }
        let status = PQresultStatus(sync)
        PQclear(sync)
        guard status == PGRES_PIPELINE_SYNC else {
            throw PostgresError(
                .protocolViolation, message: "expected pipeline sync, got \(String(cString: PQresStatus(status)))")
        }
        return results
    }

    // MARK: COPY FROM STDIN

    func beginCopy(_ sql: String) throws {
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COPY_IN else {
            if let result, PQresultStatus(result) == PGRES_FATAL_ERROR { throw serverError(result) }
            throw PostgresError(.protocolViolation, message: "statement did not start COPY FROM STDIN")
        }
    }

    func putCopyData(_ bytes: [UInt8]) throws {
        let ok = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                PQputCopyData(conn, $0, Int32(buffer.count))
            }
        }
        guard ok == 1 else { throw connectionError() }
    }

    /// Finishes the COPY; with an `abortReason` the server discards everything sent.
    func endCopy(abortReason: String? = nil) throws -> Int {
        guard PQputCopyEnd(conn, abortReason) == 1 else { throw connectionError() }
        var rows = 0
        var failure: PostgresError?
        while let result = PQgetResult(conn) {
            do { rows = try consume(result).affectedRows } catch {
                if failure == nil { failure = error }
            }
        }
        if let failure { throw failure }
        return rows
    }

    // MARK: LISTEN/NOTIFY

    func drainNotifications() throws -> [PostgresNotification] {
        guard PQconsumeInput(conn) == 1 else { throw connectionError() }
        var notifications: [PostgresNotification] = []
        while let notify = PQnotifies(conn) {
            notifications.append(
                PostgresNotification(
                    channel: String(cString: notify.pointee.relname),
                    payload: String(cString: notify.pointee.extra),
                    senderPID: notify.pointee.be_pid))
            PQfreemem(notify)
        }
        return notifications
    }

    /// Blocks until the socket is readable, `wakeFD` is written, or the timeout passes.
    func waitReadable(timeoutMilliseconds: Int32, wakeFD: Int32) throws {
        var fds = [
            pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
        ]
        let ready = poll(&fds, nfds_t(fds.count), timeoutMilliseconds)
        if ready < 0 && errno != EINTR {
            throw PostgresError(.connectionLost, message: "poll failed: errno \(errno)")
        }
        if fds[1].revents & Int16(POLLIN) != 0 {
            var counter: UInt64 = 0
            _ = read(wakeFD, &counter, 8)
        }
    }

    /// Cheap liveness check for an idle connection, without a round trip. An idle connection has
    /// nothing to read; if its socket is readable, the server has sent a termination message or
    /// closed it (restart, `pg_terminate_backend`), so the connection is not reused.
    func looksHealthy() -> Bool {
        guard PQstatus(conn) == CONNECTION_OK else { return false }
        var fd = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        return poll(&fd, 1, 0) == 0
    }

    // MARK: helpers

    /// Parameters travel as C strings: a NUL byte would silently end the value there (and
    /// PostgreSQL's text cannot hold one anyway). Refused, as the server refuses it in a literal.
    static func refuseNUL(in query: PostgresQuery) throws(PostgresError) {
        for (index, bind) in query.binds.enumerated() where bind?.utf8.contains(0) == true {
            throw PostgresError(
                .server, message: "parameter $\(index + 1) contains a NUL byte, which text cannot hold",
                sqlState: "22021")
        }
    }

    private func withParameters<R>(
        _ binds: [String?], _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> R
    ) -> R {
        let copies: [UnsafeMutablePointer<CChar>?] = binds.map { $0.map { strdup($0) } ?? nil }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { $0.map { UnsafePointer($0) } }
        return pointers.withUnsafeBufferPointer { body(Int32(binds.count), $0.baseAddress) }
    }

    /// Turns a `PGresult` into rows or an error, and frees it.
    private func consume(_ result: OpaquePointer?) throws(PostgresError) -> PostgresRows {
        guard let result else { throw connectionError() }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
            return Self.rows(of: result)
        case PGRES_EMPTY_QUERY:
            return PostgresRows(columns: [], values: [], affectedRows: 0)
        default:
            throw serverError(result)
        }
    }

    static func rows(of result: OpaquePointer) -> PostgresRows {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var values: [[String?]] = []
        values.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var rowValues: [String?] = []
            rowValues.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    rowValues.append(nil)
                } else {
                    rowValues.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                }
            }
            values.append(rowValues)
        }
        let tuples = String(cString: PQcmdTuples(result))
        return PostgresRows(columns: columns, values: values, affectedRows: Int(tuples) ?? rowCount)
    }

    private func serverError(_ result: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
        }
        if isBroken {
            return PostgresError(
                .connectionLost,
                message: "connection to PostgreSQL lost: " + Self.cleanMessage(PQerrorMessage(conn)),
                sqlState: field("C"))
        }
        let sqlState = field("C")
        let kind: PostgresError.Kind = sqlState == "57014" ? .cancelled : .server
        return PostgresError(
            kind, message: field("M") ?? Self.cleanMessage(PQresultErrorMessage(result)), sqlState: sqlState,
            detail: field("D"), hint: field("H"), constraint: field("n"))
    }

    private func connectionError() -> PostgresError {
        let message = Self.cleanMessage(PQerrorMessage(conn))
        return PostgresError(isBroken ? .connectionLost : .protocolViolation, message: message)
    }
}

/// libpq documents `PQcancel` as safe to call from any thread, hence `@unchecked Sendable`.
final class CancelToken: @unchecked Sendable {
    private let handle: OpaquePointer
    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { PQfreeCancel(handle) }

    func cancel() {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(handle, &buffer, Int32(buffer.count))
    }
}

public struct PostgresNotification: Sendable, Equatable {
    public var channel: String
    public var payload: String
    public var senderPID: Int32
}
