import Foundation

/// A bounded pool of connections.
///
/// - `withConnection` leases one connection for the closure (a transaction stays on it).
/// - Checkout does a cheap health check; a broken connection is dropped and replaced.
/// - When the server is unreachable (restart), new connections are retried with exponential
///   backoff until `acquireTimeout`, so callers see a delay rather than an error.
public actor PostgresPool {
    public struct Options: Sendable {
        public var maxConnections: Int
        /// How long `withConnection` may wait for a connection (including reconnect attempts).
        public var acquireTimeout: Duration
        public var reconnectInitialDelay: Duration
        public var reconnectMaxDelay: Duration

        public init(
            maxConnections: Int = 10, acquireTimeout: Duration = .seconds(30),
            reconnectInitialDelay: Duration = .milliseconds(50), reconnectMaxDelay: Duration = .seconds(2)
        ) {
            self.maxConnections = max(1, maxConnections)
            self.acquireTimeout = acquireTimeout
            self.reconnectInitialDelay = reconnectInitialDelay
            self.reconnectMaxDelay = reconnectMaxDelay
        }
    }

    public nonisolated let configuration: PostgresConfiguration
    public nonisolated let options: Options
    private var idle: [PostgresConnection] = []
    private var openCount = 0
    private var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var waiterOrder: [UInt64] = []
    private var nextWaiterID: UInt64 = 0
    private var closed = false
    private var lastConnectError: PostgresError?

    public init(configuration: PostgresConfiguration, options: Options = Options()) {
        self.configuration = configuration
        self.options = options
    }

    /// Runs `body` with a leased connection. If the connection broke during `body`, it is
    /// discarded rather than returned to the pool.
    public nonisolated func withConnection<T: Sendable>(
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await acquire()
        do {
            let value = try await body(connection)
            await release(connection, reusable: await connection.isIdle())
            return value
        } catch {
            await release(connection, reusable: await connection.isIdle())
            throw error
        }
    }

    /// Runs one statement on any connection.
    @discardableResult
    public nonisolated func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await withConnection { try await $0.query(query) }
    }

    /// Runs one statement on `connection` when given (inside the caller's transaction), else on
    /// any connection: for store methods that work either way.
    @discardableResult
    public nonisolated func query(_ query: PostgresQuery, on connection: PostgresConnection?) async throws
        -> PostgresRows
    {
        if let connection { return try await connection.query(query) }
        return try await self.query(query)
    }

    /// Closes idle connections and refuses new leases; leased connections close on return.
    public func close() async {
        closed = true
        let connections = idle
        idle.removeAll()
        openCount -= connections.count
        for connection in connections { await connection.close() }
        for id in waiterOrder { waiters.removeValue(forKey: id)?.resume() }
        waiterOrder.removeAll()
    }

    /// Connections currently open (idle plus leased).
    public var connectionCount: Int { openCount }

    // MARK: internals

    private func acquire() async throws -> PostgresConnection {
        let deadline = ContinuousClock.now + options.acquireTimeout
        var delay = options.reconnectInitialDelay
        while true {
            try Task.checkCancellation()
            if closed { throw PostgresError(.poolClosed, message: "connection pool is closed") }
            if let connection = idle.popLast() {
                if await connection.isHealthy() { return connection }
                openCount -= 1
                await connection.close()
                continue
            }
            if openCount < options.maxConnections {
                openCount += 1
                do {
                    let connection = try await PostgresConnection.connect(configuration)
                    lastConnectError = nil
                    return connection
                } catch let error as PostgresError {
                    openCount -= 1
                    lastConnectError = error
                    wakeOneWaiter()
                    // Bad credentials or configuration will not fix themselves.
                    guard error.kind == .connectionFailed, ContinuousClock.now + delay < deadline else { throw error }
                    try await Task.sleep(for: delay)
                    delay = min(delay * 2, options.reconnectMaxDelay)
                    continue
                }
            }
            guard ContinuousClock.now < deadline else {
                var error = PostgresError(
                    .poolTimeout,
                    message: "no database connection available within \(options.acquireTimeout) "
                        + "(pool size \(options.maxConnections))")
                if let lastConnectError { error.message += "; last connect error: \(lastConnectError.message)" }
                throw error
            }
            await waitForRelease(until: deadline)
        }
    }

    private func release(_ connection: PostgresConnection, reusable: Bool) async {
        if reusable && !closed {
            idle.append(connection)
        } else {
            openCount -= 1
            await connection.close()
        }
        wakeOneWaiter()
    }

    private func wakeOneWaiter() {
        while !waiterOrder.isEmpty {
            let id = waiterOrder.removeFirst()
            if let continuation = waiters.removeValue(forKey: id) {
                continuation.resume()
                return
            }
        }
    }

    /// Suspends until a connection is released, the deadline passes or the task is cancelled.
    private func waitForRelease(until deadline: ContinuousClock.Instant) async {
        nextWaiterID += 1
        let id = nextWaiterID
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                await self.resumeWaiter(id)
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    waiters[id] = continuation
                    waiterOrder.append(id)
                }
            } onCancel: {
                Task { await self.resumeWaiter(id) }
            }
            group.cancelAll()
        }
    }

    private func resumeWaiter(_ id: UInt64) {
        waiters.removeValue(forKey: id)?.resume()
    }
}
