import CLibPQ
import Foundation
import Synchronization

/// One PostgreSQL connection. An actor whose executor is a dedicated OS thread: every blocking
/// libpq call runs there, never on Swift's cooperative pool.
///
/// Rule for this file: libpq is only called from *synchronous* actor-isolated methods. The public
/// async API is `nonisolated` wrappers that hop in. (An async closure inside an actor method that
/// does not capture `self` runs on the global pool, silently; the timing test guards against it.)
public actor PostgresConnection {
    private let executor: DedicatedThreadExecutor
    private var raw: RawConnection?
    private nonisolated let cancelToken = Mutex<CancelToken?>(nil)
    /// Which statement is running, and whether a cancel request was sent during this lease.
    private nonisolated let statements = StatementTracker()
    private nonisolated let wakeFD: Int32
    public nonisolated let configuration: PostgresConfiguration

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private init(configuration: PostgresConfiguration) {
        self.configuration = configuration
        executor = DedicatedThreadExecutor(name: "pg-connection")
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
    }

    deinit {
        if wakeFD >= 0 { Glibc.close(wakeFD) }
        executor.shutdown()
    }

    /// Opens a connection; throws `PostgresError` with kind `.connectionFailed` or
    /// `.authenticationFailed` (the message names host and port, never the password).
    public static func connect(_ configuration: PostgresConfiguration) async throws -> PostgresConnection {
        let connection = PostgresConnection(configuration: configuration)
        try await connection.open()
        return connection
    }

    private func open() throws {
        let connection = try RawConnection(configuration: configuration)
        raw = connection
        cancelToken.withLock { $0 = connection.makeCancelToken() }
    }

    private func connection() throws -> RawConnection {
        guard let raw else { throw PostgresError(.connectionLost, message: "connection is closed") }
        return raw
    }

    // MARK: synchronous, isolated: the only places that call libpq

    private func runQuery(_ query: PostgresQuery, statement: UInt64) throws -> PostgresRows {
        try Task.checkCancellation()
        statements.running.store(statement, ordering: .releasing)
        defer { statements.running.store(0, ordering: .releasing) }
        return try connection().execute(query)
    }

    private func runScript(_ sql: String, statement: UInt64) throws {
        try Task.checkCancellation()
        statements.running.store(statement, ordering: .releasing)
        defer { statements.running.store(0, ordering: .releasing) }
        try connection().executeScript(sql)
    }

    private func runPipeline(_ queries: [PostgresQuery]) throws -> [Result<PostgresRows, PostgresError>] {
        try Task.checkCancellation()
        return try connection().pipeline(queries)
    }

    private func runBeginCopy(_ sql: String) throws { try connection().beginCopy(sql) }
    private func runPutCopyData(_ bytes: [UInt8]) throws { try connection().putCopyData(bytes) }
    private func runEndCopy(abortReason: String?) throws -> Int { try connection().endCopy(abortReason: abortReason) }

    private func runWaitForNotifications(timeoutMilliseconds: Int32) throws -> [PostgresNotification] {
        let connection = try connection()
        let pending = try connection.drainNotifications()
        if !pending.isEmpty || Task.isCancelled { return pending }
        try connection.waitReadable(timeoutMilliseconds: timeoutMilliseconds, wakeFD: wakeFD)
        return try connection.drainNotifications()
    }

    private func runHealthCheck() -> Bool { raw?.looksHealthy() ?? false }
    /// A connection a cancel request was sent for is not idle in the pool's sense: the request may
    /// still be on its way and would cancel whatever the next borrower runs.
    private func runIsIdle() -> Bool {
        guard !statements.cancelRequested.load(ordering: .acquiring) else { return false }
        return raw.map { $0.isIdle && !$0.isBroken } ?? false
    }
    private func runBackendPID() -> Int32 { raw?.backendPID ?? 0 }

    private func runClose() {
        raw = nil
        cancelToken.withLock { $0 = nil }
    }

    // MARK: public async API

    /// Runs one parameterised statement and returns its rows. Cancelling the task cancels the
    /// statement on the server.
    @discardableResult
    public nonisolated func query(_ query: PostgresQuery) async throws -> PostgresRows {
        let token = cancelToken.withLock { $0 }
        let statements = self.statements
        let statement = statements.next()
        return try await withTaskCancellationHandler {
            try await self.runQuery(query, statement: statement)
        } onCancel: {
            Self.cancel(statement, token, statements)
        }
    }

    /// A cancel request that reaches the server before the statement has started is ignored
    /// there, so it is repeated (0, 100 ms, 500 ms, 2 s) while *this* statement is still running.
    /// PostgreSQL cancels whatever the backend runs when a request arrives, so a request is sent
    /// only while this statement runs, and the connection is then retired rather than reused (a
    /// request can be in flight when the statement ends).
    private static func cancel(_ statement: UInt64, _ token: CancelToken?, _ statements: StatementTracker) {
        guard let token else { return }
        for delay in [0, 0.1, 0.5, 2.0] {
            DispatchQueue.global().asyncAfter(deadline: .now() + delay) {
                guard statements.running.load(ordering: .acquiring) == statement else { return }
                statements.cancelRequested.store(true, ordering: .releasing)
                token.cancel()
            }
        }
    }

    /// Runs a script of statements separated by semicolons (no parameters).
    public nonisolated func execute(script sql: String) async throws {
        let token = cancelToken.withLock { $0 }
        let statements = self.statements
        let statement = statements.next()
        try await withTaskCancellationHandler {
            try await self.runScript(sql, statement: statement)
        } onCancel: {
            Self.cancel(statement, token, statements)
        }
    }

    /// Sends all statements in pipeline mode and waits for all results: one network round trip.
    /// Each statement is its own implicit transaction unless the batch starts with BEGIN.
    public nonisolated func pipeline(_ queries: [PostgresQuery]) async throws -> [Result<PostgresRows, PostgresError>] {
        try await runPipeline(queries)
    }

    /// Streams data into `COPY … FROM STDIN` (text or CSV format, as the statement says).
    /// If `source` throws, the COPY is aborted and nothing it sent is kept.
    @discardableResult
    public nonisolated func copyFrom<Source: AsyncSequence>(_ sql: String, _ source: Source) async throws -> Int
    where Source.Element == [UInt8] {
        try await runBeginCopy(sql)
        do {
            for try await chunk in source where !chunk.isEmpty {
                try await runPutCopyData(chunk)
            }
        } catch {
            _ = try? await runEndCopy(abortReason: "aborted by client: \(error)")
            throw error
        }
        return try await runEndCopy(abortReason: nil)
    }

    /// COPY from chunks already in memory.
    @discardableResult
    public nonisolated func copyFrom(_ sql: String, chunks: [[UInt8]]) async throws -> Int {
        try await runBeginCopy(sql)
        for chunk in chunks where !chunk.isEmpty {
            do { try await runPutCopyData(chunk) } catch {
                _ = try? await runEndCopy(abortReason: "aborted by client")
                throw error
            }
        }
        return try await runEndCopy(abortReason: nil)
    }

    /// Waits up to `timeout` for notifications on channels this connection LISTENs to. Returns an
    /// empty array on timeout or cancellation.
    public nonisolated func waitForNotifications(timeout: Duration) async throws -> [PostgresNotification] {
        let milliseconds = Int32(
            clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let fd = wakeFD
        return try await withTaskCancellationHandler {
            try await self.runWaitForNotifications(timeoutMilliseconds: milliseconds)
        } onCancel: {
            var one: UInt64 = 1
            _ = write(fd, &one, 8)
        }
    }

    /// False when the server has closed the connection (for example after a restart).
    public nonisolated func isHealthy() async -> Bool { await runHealthCheck() }

    /// True when the connection is usable and not inside a transaction.
    public nonisolated func isIdle() async -> Bool { await runIsIdle() }

    public nonisolated func backendPID() async -> Int32 { await runBackendPID() }

    public nonisolated func close() async { await runClose() }
}

/// Which statement a connection is running (shared with cancel handlers, which run on other threads).
final class StatementTracker: Sendable {
    /// The number of the running statement; 0 while none runs.
    let running = Atomic<UInt64>(0)
    /// Set once a cancel request was sent: the connection is not given out again.
    let cancelRequested = Atomic<Bool>(false)
    private let counter = Atomic<UInt64>(0)

    func next() -> UInt64 { counter.add(1, ordering: .relaxed).newValue }
}
