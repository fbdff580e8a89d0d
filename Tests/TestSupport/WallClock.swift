import Foundation
import SwitchboardCore
import Testing

extension Tag {
    /// Tests that measure rates or spans against the wall clock (see `RunsAlone`).
    @Tag public static var wallClock: Self
}

extension Trait where Self == RunsAlone {
    /// The suite's (or test's) cases run one at a time with nothing else running beside them: the
    /// rest of the suite runs in parallel, and a rate measured on two busy cores would otherwise
    /// measure the neighbours. Add `.serialized` too, so the suite's own cases queue in order.
    public static var runsAlone: Self { RunsAlone() }
}

extension Trait where Self == WallClockLane {
    /// The suite's (or test's) cases run one at a time, and never beside another wall-clock test,
    /// while the rest of the suite runs in parallel around them: for rate and span checks with
    /// margins wide enough for a busy machine, but not for two of them measuring at once.
    public static var wallClockLane: Self { WallClockLane() }
}

/// A scope that holds the wall-clock lane (a process-wide mutex) for each test case.
public struct WallClockLane: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> WallClockLane? {
        testCase == nil ? nil : self
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let queued = ContinuousClock.now
        await TestGate.lane.acquireExclusive()
        let started = ContinuousClock.now
        // The lane is the suite's critical path: say where its time goes.
        defer {
            print(
                "wall-clock lane: \(test.name) waited \((started - queued).seconds) s, ran \((ContinuousClock.now - started).seconds) s"
            )
        }
        do { try await TestGate.$inLane.withValue(true) { try await function() } } catch {
            await TestGate.lane.releaseExclusive()
            throw error
        }
        await TestGate.lane.releaseExclusive()
    }
}

/// A scope that holds `TestGate` exclusively for each test case it applies to. Every database a
/// test opens (`TestDatabase.with`) holds the gate shared, so a case in this scope waits for the
/// running database tests to end and the next ones wait for it.
public struct RunsAlone: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> RunsAlone? {
        // Once per case: the suite itself needs no scope, and holding it there would hold the gate
        // while the suite's cases wait for it.
        testCase == nil ? nil : self
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        await TestGate.shared.acquireExclusive()
        do {
            try await TestGate.$holdsExclusive.withValue(true) { try await function() }
        } catch {
            await TestGate.shared.releaseExclusive()
            throw error
        }
        await TestGate.shared.releaseExclusive()
    }
}

/// A readers-writer gate for the whole test process, which also bounds how many database tests
/// run at once. Swift Testing starts every test at once; on two cores, 250 tests each with a
/// database, a simulator and sometimes child processes then miss their own timeouts. Writers are
/// preferred: once a `RunsAlone` case waits, no new database test starts before it.
public actor TestGate {
    public static let shared = TestGate()
    /// The wall-clock lane: only ever held exclusively, so it is a mutex.
    static let lane = TestGate()

    /// Set inside a `RunsAlone` case, whose own databases must not wait for the gate it holds.
    @TaskLocal public static var holdsExclusive = false
    /// Set while this task holds the gate shared: a second database in the same test must not
    /// queue behind a waiting writer that waits for the first.
    @TaskLocal static var holdsShared = false
    /// Set inside a wall-clock lane case: its database goes to the front of the queue, since the
    /// lane is the suite's critical path and every other lane test waits for it.
    @TaskLocal static var inLane = false

    /// Runs `body` holding the gate shared (unless this task holds it already), for tests that run
    /// real servers or processes beside which a wall-clock test would measure the wrong thing.
    public static func holdingShared<T>(_ body: () async throws -> T) async throws -> T {
        if holdsExclusive || holdsShared { return try await body() }
        await shared.acquireShared(first: inLane)
        do {
            let value = try await $holdsShared.withValue(true) { try await body() }
            await shared.releaseShared()
            return value
        } catch {
            await shared.releaseShared()
            throw error
        }
    }

    private var readers = 0
    /// Database tests at once: `SWITCHBOARD_TEST_WIDTH`, else twice the cores, at least 4.
    private let maximumReaders: Int = {
        if let text = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_WIDTH"], let width = Int(text), width > 0 {
            return width
        }
        return max(4, 2 * ProcessInfo.processInfo.activeProcessorCount)
    }()
    private var writing = false
    private var waitingWriters: [CheckedContinuation<Void, Never>] = []
    private var waitingReaders: [CheckedContinuation<Void, Never>] = []

    public func acquireShared(first: Bool = false) async {
        if !writing && waitingWriters.isEmpty && readers < maximumReaders {
            readers += 1
            return
        }
        await withCheckedContinuation { waiter in
            if first { waitingReaders.insert(waiter, at: 0) } else { waitingReaders.append(waiter) }
        }
    }

    public func releaseShared() {
        readers -= 1
        admit()
    }

    public func acquireExclusive() async {
        if !writing && readers == 0 {
            writing = true
            return
        }
        await withCheckedContinuation { waitingWriters.append($0) }
    }

    public func releaseExclusive() {
        writing = false
        admit()
    }

    /// Hands the gate to the next writer when it is free, otherwise to waiting readers, in order,
    /// up to the width.
    private func admit() {
        guard !writing else { return }
        if !waitingWriters.isEmpty {
            guard readers == 0 else { return }
            writing = true
            waitingWriters.removeFirst().resume()
            return
        }
        let admitted = waitingReaders.prefix(max(0, maximumReaders - readers))
        readers += admitted.count
        waitingReaders.removeFirst(admitted.count)
        admitted.forEach { $0.resume() }
    }
}
