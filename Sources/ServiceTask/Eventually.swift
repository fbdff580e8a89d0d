/// Polls `condition` until it holds or `timeout` passes; returns whether it held (an error
/// counts as "not yet"). The demo waits for its processes with it, the tests instead of bare
/// sleeps; one copy for both.
public func eventually(
    timeout: Duration = .seconds(20), every interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: interval)
    }
    return (try? await condition()) == true
}
