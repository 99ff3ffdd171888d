/// A setting that stops start-up: which key, what is wrong, where the value came from.
///
/// Its description is one line, printed as is before exiting with status 2:
/// `configuration error: redis.maxlen: expected an integer ≥ 1, got "abc" (from --redis-maxlen)`.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The setting's dotted key, or the flag or file concerned.
    public var key: String
    /// What is wrong, including the offending value (never a secret).
    public var problem: String

    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }

    public var description: String { "configuration error: \(key): \(problem)" }
}
