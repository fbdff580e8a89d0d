import Synchronization

/// A thread-safe counter for tests.
public final class Counter: Sendable {
    private let count = Mutex(0)
    public init() {}
    public func increment() { count.withLock { $0 += 1 } }
    public var value: Int { count.withLock { $0 } }
}

/// A thread-safe box for test bookkeeping.
public final class Locked<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    public init(_ value: Value) { storage = Mutex(value) }
    public func withLock<R>(_ body: (inout Value) -> R) -> R { storage.withLock { body(&$0) } }
    public var value: Value { storage.withLock { $0 } }
}
