import Foundation

/// LISTEN on one or more channels as an `AsyncSequence`.
///
/// Uses a dedicated connection (not one from a pool). If the connection breaks, the iterator
/// reconnects with backoff, LISTENs again and yields `.reconnected`: notifications sent while it
/// was away are lost, so consumers should poll once when they see it.
public struct PostgresListener: AsyncSequence, Sendable {
    public enum Event: Sendable, Equatable {
        case notification(PostgresNotification)
        /// The connection was (re-)established; anything sent meanwhile was missed.
        case reconnected
    }

    public typealias Element = Event
    let configuration: PostgresConfiguration
    let channels: [String]
    let maxBackoff: Duration

    public init(configuration: PostgresConfiguration, channels: [String], maxBackoff: Duration = .seconds(2)) {
        self.configuration = configuration
        self.channels = channels
        self.maxBackoff = maxBackoff
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(listener: self)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let listener: PostgresListener
        var connection: PostgresConnection?
        var buffer: [PostgresNotification] = []
        var hasConnectedBefore = false

        /// Waits for the next event; returns `nil` only when the task is cancelled.
        /// Throws when the first connection attempt fails (wrong URL, bad password).
        public mutating func next() async throws -> Event? {
            do {
                return try await nextEvent()
            } catch {
                if Task.isCancelled { return nil }
                throw error
            }
        }

        private mutating func nextEvent() async throws -> Event? {
            while !Task.isCancelled {
                if !buffer.isEmpty { return .notification(buffer.removeFirst()) }
                guard let connection else {
                    let wasConnected = hasConnectedBefore
                    try await connect()
                    if wasConnected { return .reconnected }
                    continue
                }
                do {
                    buffer = try await connection.waitForNotifications(timeout: .seconds(5))
                } catch {
                    if Task.isCancelled { return nil }
                    await connection.close()
                    self.connection = nil
                }
            }
            return nil
        }

        private mutating func connect() async throws {
            var delay = Duration.milliseconds(50)
            while true {
                do {
                    let connection = try await PostgresConnection.connect(listener.configuration)
                    for channel in listener.channels {
                        try await connection.query(PostgresQuery(unsafeSQL: "LISTEN " + Self.quoteIdentifier(channel)))
                    }
                    self.connection = connection
                    hasConnectedBefore = true
                    return
                } catch let error as PostgresError where hasConnectedBefore && error.isTransient {
                    try await Task.sleep(for: delay)
                    delay = Swift.min(delay * 2, listener.maxBackoff)
                }
            }
        }

        static func quoteIdentifier(_ name: String) -> String {
            "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
    }
}
