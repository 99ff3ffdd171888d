/// The assignment of one market's streams to the pool's connections: which connection
/// carries which stream, on which route, and each stream's subscription state.
///
/// Pure: it performs no I/O and reads no clock. Each mutating call returns what the caller
/// (the WebSocket layer, under its lock) must do: open connections, send (UN)SUBSCRIBE
/// requests, close connections. The rules:
/// - a stream is subscribed once (`already` otherwise) and lives on exactly one connection;
/// - a connection carries one route only (a stream on the wrong USD-M route is acked and
///   silent), at most `maxStreamsPerConnection` streams;
/// - new streams fill existing connections of their route (lowest id first) before new
///   connections are opened, up to `maxConnections`;
/// - ``subscribe(_:)`` is all-or-nothing: if the request does not fit, it throws
///   ``StreamPoolError/Code/poolExhausted`` and the state is exactly as before.
public struct StreamPoolStateMachine: Sendable, Equatable {
    // MARK: Types

    /// Where a connection is in its life, as the pool sees it.
    public enum ConnectionState: String, Sendable, Hashable {
        /// Opening for the first time.
        case connecting
        /// Open; its streams are (being) subscribed.
        case open
        /// Dropped; waiting for or making a reconnection.
        case reconnecting
        /// Being closed (empty after the linger, or replaced by a rotation); takes no streams.
        case closing
    }

    /// One stream's subscription state (the `list` command's `state`).
    public enum SubscriptionState: Sendable, Hashable {
        /// Requested, not yet acknowledged on its current connection.
        case pending
        /// Acknowledged by Binance (which does not prove data will flow: see liveness).
        case confirmed
        /// Refused, unanswered after every retry, or lost with its connection.
        case failed(reason: String)
    }

    /// One connection of the pool.
    public struct Connection: Sendable, Equatable, Identifiable {
        /// Its id.
        public let id: PoolConnectionID
        /// The route it is opened on.
        public let route: StreamRoute
        /// The streams it carries (for a replacement: the streams it mirrors).
        public internal(set) var streams: Set<BinanceStreamName>
        /// Its state.
        public internal(set) var state: ConnectionState
        /// During a rotation, on the replacement: the connection it replaces.
        public internal(set) var replacing: PoolConnectionID?
        /// During a rotation, on the old connection: its replacement.
        public internal(set) var replacement: PoolConnectionID?
    }

    /// One subscribed stream (a row of the `list` command).
    public struct Subscription: Sendable, Equatable {
        /// The stream.
        public let stream: BinanceStreamName
        /// Its subscription state.
        public let state: SubscriptionState
        /// The connection that carries it.
        public let connection: PoolConnectionID
    }

    /// Streams to put in (UN)SUBSCRIBE requests on one connection.
    public struct ConnectionStreams: Sendable, Equatable {
        /// The connection.
        public let connection: PoolConnectionID
        /// The streams, in request order.
        public internal(set) var streams: [BinanceStreamName]
    }

    /// A connection to open.
    public struct NewConnection: Sendable, Equatable {
        /// Its id.
        public let id: PoolConnectionID
        /// Its route.
        public let route: StreamRoute
    }

    /// The result of ``subscribe(_:)``.
    public struct SubscribePlan: Sendable, Equatable {
        /// Streams newly subscribed, in request order (each once).
        public internal(set) var added: [BinanceStreamName] = []
        /// Streams that were already subscribed, in request order (each once).
        public internal(set) var already: [BinanceStreamName] = []
        /// Connections to open (in `connecting` state); their streams are in ``subscribe``.
        public internal(set) var newConnections: [NewConnection] = []
        /// Per connection (ascending id), the streams to SUBSCRIBE: after opening for new
        /// connections, now for open ones, after reconnecting for the others.
        public internal(set) var subscribe: [ConnectionStreams] = []
    }

    /// The result of ``unsubscribe(_:)``.
    public struct UnsubscribePlan: Sendable, Equatable {
        /// Streams that were subscribed and are now removed, in request order.
        public internal(set) var removed: [BinanceStreamName] = []
        /// Streams that were not subscribed, in request order.
        public internal(set) var absent: [BinanceStreamName] = []
        /// Per connection (ascending id), the streams to UNSUBSCRIBE.
        public internal(set) var unsubscribe: [ConnectionStreams] = []
        /// Connections left without streams: close each after `emptyConnectionLinger` with
        /// ``closeIfEmpty(_:)`` (a subscribe in the meantime may reuse it).
        public internal(set) var emptied: [PoolConnectionID] = []
    }

    private struct Entry: Sendable, Equatable {
        var connection: PoolConnectionID
        var state: SubscriptionState
    }

    // MARK: State

    /// The market this pool serves.
    public let market: BinanceMarket
    /// The pool's parameters.
    public let configuration: StreamPoolConfiguration
    private var connectionsByID: [PoolConnectionID: Connection] = [:]
    private var entries: [BinanceStreamName: Entry] = [:]
    private var lastConnectionID = 0

    /// An empty pool for `market`.
    public init(market: BinanceMarket, configuration: StreamPoolConfiguration = StreamPoolConfiguration()) {
        precondition(configuration.maxConnections > 0 && configuration.maxStreamsPerConnection > 0)
        self.market = market
        self.configuration = configuration
    }

    // MARK: Views

    /// Every connection, by ascending id.
    public var connections: [Connection] { connectionsByID.values.sorted { $0.id < $1.id } }

    /// The connection `id`, if the pool holds it.
    public func connection(_ id: PoolConnectionID) -> Connection? { connectionsByID[id] }

    /// Every subscribed stream with its state and connection, sorted by name.
    public var subscriptions: [Subscription] {
        entries.map { Subscription(stream: $0.key, state: $0.value.state, connection: $0.value.connection) }
            .sorted { $0.stream < $1.stream }
    }

    /// The subscription of `stream`, if subscribed.
    public func subscription(_ stream: BinanceStreamName) -> Subscription? {
        entries[stream].map { Subscription(stream: stream, state: $0.state, connection: $0.connection) }
    }

    /// Streams subscribed in this market (the replies' `total`).
    public var subscriptionCount: Int { entries.count }

    /// Connections counted against ``StreamPoolConfiguration/maxConnections``: all but
    /// rotation replacements (closing ones count until ``connectionClosed(_:)``).
    public var countedConnectionCount: Int { connectionsByID.values.count { $0.replacing == nil } }

    // MARK: Subscribe / unsubscribe

    /// Subscribes `streams`: dedupes, places new streams (filling connections of their route
    /// before opening new ones), and returns what to open and send. All-or-nothing: throws
    /// `poolExhausted` (or `wrongMarket`) and leaves the state unchanged if any stream cannot
    /// be placed.
    public mutating func subscribe(_ streams: [BinanceStreamName]) throws(StreamPoolError) -> SubscribePlan {
        let foreign = streams.filter { $0.market != market }
        guard foreign.isEmpty else {
            throw StreamPoolError(code: .wrongMarket, message: "streams of another market sent to the \(market.rawValue) pool", streams: foreign)
        }
        var next = self  // staged: `self` is replaced only when every stream is placed
        var plan = SubscribePlan()
        var seen: Set<BinanceStreamName> = []
        var requests: [PoolConnectionID: [BinanceStreamName]] = [:]
        for stream in streams where seen.insert(stream).inserted {
            if entries[stream] != nil {
                plan.already.append(stream)
                continue
            }
            let route = configuration.routeTable.route(for: stream)
            guard let target = next.connectionWithRoom(on: route) ?? next.openConnection(on: route, plan: &plan) else {
                let unplaced = streams.filter { entries[$0] == nil }.uniqued()
                throw StreamPoolError(
                    code: .poolExhausted,
                    message: "\(unplaced.count) new streams do not fit: \(entries.count) of \(configuration.capacity) streams "
                        + "subscribed on \(countedConnectionCount) of \(configuration.maxConnections) connections",
                    streams: unplaced
                )
            }
            next.entries[stream] = Entry(connection: target, state: .pending)
            next.connectionsByID[target]!.streams.insert(stream)
            requests[target, default: []].append(stream)
            if let replacement = next.connectionsByID[target]!.replacement {
                next.connectionsByID[replacement]?.streams.insert(stream)
                requests[replacement, default: []].append(stream)
            }
            plan.added.append(stream)
        }
        self = next
        plan.subscribe = requests.keys.sorted().map { ConnectionStreams(connection: $0, streams: requests[$0]!) }
        return plan
    }

    /// Unsubscribes `streams` and returns the UNSUBSCRIBE requests and the connections left
    /// empty. Never fails: streams not subscribed are reported `absent`.
    public mutating func unsubscribe(_ streams: [BinanceStreamName]) -> UnsubscribePlan {
        var plan = UnsubscribePlan()
        var seen: Set<BinanceStreamName> = []
        var requests: [PoolConnectionID: [BinanceStreamName]] = [:]
        for stream in streams where seen.insert(stream).inserted {
            guard let entry = entries.removeValue(forKey: stream) else {
                plan.absent.append(stream)
                continue
            }
            plan.removed.append(stream)
            for id in [entry.connection, connectionsByID[entry.connection]?.replacement].compactMap(\.self) {
                connectionsByID[id]?.streams.remove(stream)
                requests[id, default: []].append(stream)
            }
        }
        plan.unsubscribe = requests.keys.sorted().map { ConnectionStreams(connection: $0, streams: requests[$0]!) }
        plan.emptied = requests.keys.sorted().filter { id in
            guard let connection = connectionsByID[id] else { return false }
            return connection.streams.isEmpty && connection.state != .closing && connection.replacing == nil
        }
        return plan
    }

    // MARK: Connection events

    /// The connection `id` is open (first time or after a reconnect): its streams become
    /// `pending` until their (re)subscription is acknowledged.
    public mutating func connectionOpened(_ id: PoolConnectionID) {
        guard let connection = connectionsByID[id], connection.state != .closing else { return }
        connectionsByID[id]!.state = .open
        if connection.replacing == nil {
            for stream in connection.streams { entries[stream]?.state = .pending }
        }
    }

    /// The connection `id` dropped and will reconnect: its streams are marked failed with
    /// `reason` (the seed's behaviour, so `list` shows the outage) and returned, to report
    /// and to resubscribe when it reopens.
    @discardableResult
    public mutating func connectionLost(_ id: PoolConnectionID, reason: String) -> [BinanceStreamName] {
        guard let connection = connectionsByID[id], connection.state != .closing else { return [] }
        connectionsByID[id]!.state = .reconnecting
        guard connection.replacing == nil else { return [] }
        let streams = connection.streams.sorted()
        for stream in streams { entries[stream]?.state = .failed(reason: reason) }
        return streams
    }

    /// Sets the state of those of `streams` that are still carried by `connection`, and
    /// returns them; streams that moved or were unsubscribed meanwhile are ignored (a late
    /// ack must not confirm a stream on a connection it left).
    @discardableResult
    public mutating func setState(
        _ state: SubscriptionState,
        of streams: [BinanceStreamName],
        on connection: PoolConnectionID
    ) -> [BinanceStreamName] {
        streams.filter { stream in
            guard entries[stream]?.connection == connection else { return false }
            entries[stream]!.state = state
            return true
        }
    }

    /// After the linger: moves `id` to `closing` if it is still empty and returns true
    /// (close the socket, then call ``connectionClosed(_:)``); false if it took streams again.
    public mutating func closeIfEmpty(_ id: PoolConnectionID) -> Bool {
        guard let connection = connectionsByID[id], connection.streams.isEmpty, connection.state != .closing,
            connection.replacement == nil
        else { return false }
        connectionsByID[id]!.state = .closing
        return true
    }

    /// The connection `id` is closed for good and leaves the pool (its slot is free again).
    /// Streams it still carried (a closing connection carries none) are unsubscribed and
    /// returned.
    @discardableResult
    public mutating func connectionClosed(_ id: PoolConnectionID) -> [BinanceStreamName] {
        guard let connection = connectionsByID.removeValue(forKey: id) else { return [] }
        if let old = connection.replacing, connectionsByID[old]?.replacement == id { connectionsByID[old]?.replacement = nil }
        if let replacement = connection.replacement, connectionsByID[replacement]?.replacing == id {
            connectionsByID[replacement]?.replacing = nil
        }
        let orphans = connection.streams.filter { entries[$0]?.connection == id }.sorted()
        for stream in orphans { entries[stream] = nil }
        return orphans
    }

    // MARK: Placement

    /// The lowest-id connection of `route` that takes streams and has room.
    private func connectionWithRoom(on route: StreamRoute) -> PoolConnectionID? {
        connectionsByID.values
            .filter {
                $0.route == route && $0.state != .closing && $0.replacing == nil
                    && $0.streams.count < configuration.maxStreamsPerConnection
            }
            .min { $0.id < $1.id }?.id
    }

    /// A new connection on `route`, if the cap allows one.
    private mutating func openConnection(on route: StreamRoute, plan: inout SubscribePlan) -> PoolConnectionID? {
        guard countedConnectionCount < configuration.maxConnections else { return nil }
        let id = makeConnection(route: route, streams: [], replacing: nil)
        plan.newConnections.append(NewConnection(id: id, route: route))
        return id
    }

    /// Adds a `connecting` connection with the next id.
    mutating func makeConnection(route: StreamRoute, streams: Set<BinanceStreamName>, replacing: PoolConnectionID?) -> PoolConnectionID {
        lastConnectionID += 1
        let id = PoolConnectionID(lastConnectionID)
        connectionsByID[id] = Connection(id: id, route: route, streams: streams, state: .connecting, replacing: replacing, replacement: nil)
        return id
    }

    // Rotation (StreamPoolStateMachine+Rotation.swift) edits connections and entries.
    mutating func withConnection<R>(_ id: PoolConnectionID, _ body: (inout Connection) -> R) -> R? {
        guard connectionsByID[id] != nil else { return nil }
        return body(&connectionsByID[id]!)
    }

    mutating func moveEntries(from old: PoolConnectionID, to new: PoolConnectionID, state: SubscriptionState) {
        for (stream, entry) in entries where entry.connection == old {
            entries[stream] = Entry(connection: new, state: state)
        }
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}
