/// Opens once: tasks that wait on it go on when it opens (or at once, after).
public final class Gate: Sendable {
    private let stream = AsyncStream<Void>.makeStream()

    public init() {}

    public func open() { stream.continuation.finish() }

    public func wait() async {
        for await _ in stream.stream {}
    }
}
