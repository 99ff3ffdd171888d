/// The outcome of a pipelined batch when only failures matter (bulk `XADD`s): how many
/// commands ran and which ones the server rejected, without materializing every reply.
public struct RedisPipelineSummary: Sendable, Equatable {
    /// One command the server answered with an error reply.
    public struct Failure: Sendable, Equatable {
        /// Position of the command in the batch (0-based).
        public var index: Int
        /// The server's error (`OOM`, `READONLY`, `WRONGTYPE`…).
        public var error: RedisClientError
    }

    /// Commands in the batch (all of them got a reply).
    public var count: Int
    /// Commands answered with an error reply, in batch order.
    public var failures: [Failure]

    /// Commands that succeeded.
    public var succeeded: Int { count - failures.count }
}
