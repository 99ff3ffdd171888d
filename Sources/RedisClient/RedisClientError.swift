/// The one error type of the `RedisClient` module.
///
/// Server-reported errors (`-ERR …`, `-WRONGTYPE …`, `-OOM …`) are kept apart from transport
/// and protocol failures: ``isServerError`` tells them apart, and ``serverErrorCode`` holds the
/// first word of the server's message. The ``code`` is an extensible struct (as in valkey-swift's
/// `ValkeyClientError`) so later codes do not break exhaustive switches in callers.
public struct RedisClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is; compare against the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidURL
            case connectionFailed
            case connectionClosed
            case timeout
            case io
            case protocolError
            case serverError
            case authenticationFailed
            case cancelled
            case shutdown
        }

        private let base: Base

        /// The Redis URL does not parse.
        public static let invalidURL = Code(base: .invalidURL)
        /// The TCP/Unix connection could not be established (refused, unreachable, DNS…).
        public static let connectionFailed = Code(base: .connectionFailed)
        /// The server closed the connection (EOF), or it broke mid-command.
        public static let connectionClosed = Code(base: .connectionClosed)
        /// The connect or command timeout elapsed.
        public static let timeout = Code(base: .timeout)
        /// A socket read or write failed.
        public static let io = Code(base: .io)
        /// The server sent bytes that are not valid RESP.
        public static let protocolError = Code(base: .protocolError)
        /// The server answered with an error reply (`-ERR`, `-WRONGTYPE`, `-OOM`, `-READONLY`…).
        public static let serverError = Code(base: .serverError)
        /// `AUTH` (or the `NOAUTH` reply to `SELECT`) failed at connection time.
        public static let authenticationFailed = Code(base: .authenticationFailed)
        /// The calling task was cancelled; the connection was closed to unblock it.
        public static let cancelled = Code(base: .cancelled)
        /// The client was closed.
        public static let shutdown = Code(base: .shutdown)

        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A human-readable explanation (never contains a password).
    public var message: String
    /// For ``Code/serverError`` and ``Code/authenticationFailed``: the first word of the server's
    /// reply (`ERR`, `WRONGTYPE`, `OOM`, `READONLY`, `NOAUTH`, `WRONGPASS`…).
    public var serverErrorCode: String?

    public init(code: Code, message: String, serverErrorCode: String? = nil) {
        self.code = code
        self.message = message
        self.serverErrorCode = serverErrorCode
    }

    /// Builds the error for a server error reply, splitting off its leading code word.
    public init(serverReply text: String) {
        let word = text.prefix { $0 != " " }
        let isCode = !word.isEmpty && word.allSatisfy { $0.isUppercase || $0 == "_" }
        self.init(code: .serverError, message: text, serverErrorCode: isCode ? String(word) : nil)
    }

    /// True when the server itself answered with an error; false for transport failures.
    public var isServerError: Bool { code == .serverError }

    /// True when retrying on a fresh connection may succeed (transport failures, timeouts).
    public var isConnectionError: Bool {
        code == .connectionFailed || code == .connectionClosed || code == .timeout || code == .io
            || code == .protocolError
    }

    public var description: String { "redis \(code): \(message)" }
}
