/// A setting that stops start-up: which key, what is wrong, where the value came from.
///
/// Its description is one line, printed as is before exiting with status 2:
/// `configuration error: redis.maxlen: expected an integer in 1…1000000000, got "abc" (from --redis-maxlen)`.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The setting's dotted key; for a bad command line or file, the argument or file path.
    public var key: String
    /// What is wrong, with the offending value (never a secret) and where it came from.
    public var problem: String

    /// An error about `key`.
    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }

    /// `configuration error: <key>: <problem>`, on one line.
    public var description: String { "configuration error: \(key): \(problem)" }
}
