import Testing

/// Polls `condition` every 20 ms until it holds, for at most `timeout`; records an issue
/// naming `what` and throws when it never does. Every wait in the socket tests is bounded by it.
///
/// The default is generous because CPU-bound tests running in parallel can occupy both of the
/// cooperative pool's threads for seconds on a 2-core machine, starving the clients' tasks.
public func eventually(_ what: Comment, timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("timed out waiting: \(what)")
    throw CancellationError()
}
