import Logging
import ServiceLifecycle
import Synchronization

/// The live ConversationRelay sockets of one webhook process, and how they end when it stops.
///
/// A socket cannot move to another host, so a deploy that closed them would drop live calls. On
/// graceful shutdown the process first drains: `/ready` fails and new sockets are refused (503),
/// live calls may finish within the drain timeout, and each one still open is then asked to hand
/// off — it ends its relay session with `end` at the next moment nothing is being said, and
/// Twilio's `<Connect action>` request, served by any host, continues the call by `<Gather>`
/// from the session stored in Postgres.
public final class RelayDrain: Sendable {
    private struct State {
        var draining = false
        var nextTicket = 0
        var live: [Int: AsyncStream<Void>.Continuation] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    /// Set once shutdown begins: `/ready` fails and no socket is accepted.
    public var isDraining: Bool { state.withLock { $0.draining } }

    /// Relay sockets being served.
    public var liveCount: Int { state.withLock { $0.live.count } }

    /// A socket being served; its `handOff` stream yields once when it must end its relay session.
    struct Ticket: Sendable {
        let number: Int
        let handOff: AsyncStream<Void>
    }

    /// Registers a socket, or nil while draining (the socket is refused then).
    func enter() -> Ticket? {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        return state.withLock { state -> Ticket? in
            guard !state.draining else { return nil }
            state.nextTicket += 1
            state.live[state.nextTicket] = continuation
            return Ticket(number: state.nextTicket, handOff: stream)
        }
    }

    func leave(_ ticket: Ticket) {
        state.withLock { $0.live.removeValue(forKey: ticket.number) }?.finish()
    }

    /// What a drain did.
    public struct Report: Sendable, Equatable {
        /// Calls that ended by themselves within the drain timeout.
        public var finished: Int
        /// Calls asked to hand off when the timeout passed.
        public var handedOff: Int
        /// Sockets still open when the hand-off wait ran out (they close with the server).
        public var leftOpen: Int

        public init(finished: Int, handedOff: Int, leftOpen: Int) {
            self.finished = finished
            self.handedOff = handedOff
            self.leftOpen = leftOpen
        }
    }

    /// Refuses new sockets, waits up to `timeout` for the live ones to end, then asks the rest to
    /// hand off and waits up to `handOffTimeout` (an answer being spoken finishes first) for them
    /// to close.
    public func drain(timeout: Duration, handOffTimeout: Duration) async -> Report {
        let live = state.withLock { state in
            state.draining = true
            return state.live.count
        }
        await waitForNoSockets(within: timeout)
        let remaining = state.withLock { state in Array(state.live.values) }
        for socket in remaining { socket.yield() }
        await waitForNoSockets(within: handOffTimeout)
        let leftOpen = liveCount
        return Report(finished: live - remaining.count, handedOff: remaining.count, leftOpen: leftOpen)
    }

    /// Polls: a drain runs once per process lifetime, and 50 ms is nothing beside its timeout.
    private func waitForNoSockets(within timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while liveCount > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// Drains the relay sockets when the process shuts down gracefully. Placed after the server in a
/// process's services, it is shut down before it, so the server still serves (the hand-offs,
/// their `<Connect action>` requests, every other webhook) while the sockets drain.
public struct RelayDrainService: Service {
    let drain: RelayDrain
    let timeout: Duration
    let handOffTimeout: Duration
    let logger: Logger

    public init(drain: RelayDrain, timeout: Duration, handOffTimeout: Duration, logger: Logger) {
        self.drain = drain
        self.timeout = timeout
        self.handOffTimeout = handOffTimeout
        self.logger = logger
    }

    public func run() async throws {
        // Waits for the shutdown signal; cancellation (no graceful shutdown) ends it too.
        try? await gracefulShutdown()
        guard !Task.isCancelled else { return }
        let live = drain.liveCount
        if live > 0 {
            logger.notice(
                "draining live voice calls", metadata: ["calls": "\(live)", "drain_timeout": "\(timeout)"])
        }
        let report = await drain.drain(timeout: timeout, handOffTimeout: handOffTimeout)
        if live > 0 {
            logger.notice(
                "drained live voice calls",
                metadata: [
                    "finished": "\(report.finished)", "handed_off": "\(report.handedOff)",
                    "left_open": "\(report.leftOpen)",
                ])
        }
    }
}
