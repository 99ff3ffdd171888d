import RedisClient

/// Start-up work that needs Redis (instrument hashes, desired sets): retried until it
/// succeeds or the task is cancelled, 100 ms doubling to 2 s between attempts.
let startupRetryPolicy = RedisReconnectPolicy(initialDelay: .milliseconds(100), maxDelay: .seconds(2), jitter: .zero)

/// Runs `operation` until it returns, reporting each failure to `onFailure` and waiting as
/// ``startupRetryPolicy`` says; gives up only when the task is cancelled (a shutdown).
func retryingWhileRedisIsAway(_ operation: () async throws -> Void, onFailure: (any Error) -> Void) async {
    var failures = 0
    while !Task.isCancelled {
        do {
            try await operation()
            return
        } catch {
            onFailure(error)
            try? await Task.sleep(for: startupRetryPolicy.delay(afterFailures: failures))
            failures += 1
        }
    }
}
