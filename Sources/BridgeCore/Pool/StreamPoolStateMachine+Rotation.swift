/// The 24 h rotation as the pool sees it: a replacement connection mirrors an old one's
/// streams until the switch-over (driven by ``ConnectionLifecycleStateMachine``, with
/// ``OverlapDeduplicator`` merging the two sockets' frames meanwhile).
///
/// During the overlap the streams stay assigned to the old connection (their state is its
/// state); subscribes and unsubscribes on the old connection are mirrored on the
/// replacement (``StreamPoolStateMachine/SubscribePlan/subscribe`` lists both). The
/// replacement does not count against `maxConnections`.
extension StreamPoolStateMachine {
    /// A replacement to open.
    public struct Replacement: Sendable, Equatable {
        /// The connection being replaced.
        public let old: PoolConnectionID
        /// The replacement's id (state `connecting`).
        public let new: PoolConnectionID
        /// Its route (the old one's).
        public let route: StreamRoute
        /// The streams to SUBSCRIBE on it once open.
        public let streams: [BinanceStreamName]
    }

    /// Starts replacing `old`: adds a `connecting` connection carrying the same streams.
    /// Nil if `old` is not open or is already being replaced.
    public mutating func beginReplacement(of old: PoolConnectionID) -> Replacement? {
        guard let connection = connection(old), connection.state == .open, connection.replacement == nil,
            connection.replacing == nil
        else { return nil }
        let new = makeConnection(route: connection.route, streams: connection.streams, replacing: old)
        withConnection(old) { $0.replacement = new }
        return Replacement(old: old, new: new, route: connection.route, streams: connection.streams.sorted())
    }

    /// The switch-over: `old`'s streams move to its replacement as `confirmed` (the caller
    /// switches only once they all are), and `old` becomes an empty `closing` connection to
    /// close and then report with ``connectionClosed(_:)``. Returns the replacement's id.
    public mutating func completeReplacement(of old: PoolConnectionID) -> PoolConnectionID? {
        guard let new = connection(old)?.replacement, connection(new) != nil else { return nil }
        moveEntries(from: old, to: new, state: .confirmed)
        withConnection(new) { $0.replacing = nil }
        withConnection(old) {
            $0.replacement = nil
            $0.streams = []
            $0.state = .closing
        }
        return new
    }

    /// Abandons `old`'s replacement (the old connection dropped, or the overlap timed out):
    /// the replacement becomes an empty `closing` connection to close and report with
    /// ``connectionClosed(_:)``. Returns its id.
    public mutating func abandonReplacement(of old: PoolConnectionID) -> PoolConnectionID? {
        guard let new = connection(old)?.replacement else { return nil }
        withConnection(old) { $0.replacement = nil }
        withConnection(new) {  // keeps `replacing`, so it still does not count against the cap
            $0.streams = []
            $0.state = .closing
        }
        return new
    }
}
