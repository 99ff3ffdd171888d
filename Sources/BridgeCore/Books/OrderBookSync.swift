/// The update ids of one diff-depth event: `U`, `u`, `pu`.
public struct DepthUpdateIds: Sendable, Equatable {
    /// `U`: first update id in the event.
    public var first: Int64
    /// `u`: final update id in the event.
    public var final: Int64
    /// `pu`: `u` of the previous event on the stream.
    public var previousFinal: Int64

    public init(first: Int64, final: Int64, previousFinal: Int64) {
        self.first = first
        self.final = final
        self.previousFinal = previousFinal
    }
}

/// Binance's futures procedure for keeping a local book (protocol §5), as a state machine
/// without I/O: it decides, for each diff event and each REST snapshot, what the caller does
/// — apply, hold, ask for a snapshot, report a gap — and holds the events that wait for a
/// snapshot (`Pending`, whatever the caller needs to apply and forward them later).
///
/// 1. Events are held (bounded by ``bufferLimit``) and the first one asks for a snapshot, so
///    the snapshot is taken after the subscription delivers (cryptostore#57).
/// 2. On the snapshot (`lastUpdateId` L): held events with `u` < L are *stale* (forwarded,
///    not applied); the first with `u` ≥ L must have `U` ≤ L, else the snapshot is too old
///    and another is asked for. If every held event is older than L, the snapshot is kept
///    until the event that covers L arrives.
/// 3. Once synced, every event's `pu` must equal the previous `u`; otherwise a sequence gap
///    (`expected`, `got`), and the stream starts again at step 1 holding that event.
public struct OrderBookSync<Pending> {
    public enum Phase: Equatable, Sendable {
        /// Holding events until a snapshot arrives; `requested` once one was asked for.
        case awaitingSnapshot(requested: Bool)
        /// A snapshot newer than every held event: waiting for the event that covers it.
        case holdingSnapshot(lastUpdateId: Int64)
        /// Applying events; `lastFinal` is the `u` of the last one applied.
        case synced(lastFinal: Int64)
    }

    /// What to do with one diff event.
    public enum DiffAction {
        /// Synced and chained: apply it and forward it.
        case apply
        /// Held until a snapshot (one is already asked for).
        case held
        /// Held; ask for a snapshot now.
        case requestSnapshot
        /// `pu` ≠ the previous `u`: write a gap marker, ask for a snapshot; the event is held.
        case sequenceGap(expected: Int64, got: Int64)
        /// The buffer was full: the oldest held events are dropped (write an overflow gap for
        /// them); the event is held.
        case overflow(dropped: [Pending])
        /// The held snapshot is covered by this event: write the snapshot, forward `stale`
        /// (older than the snapshot), then apply and forward this event.
        case synced(stale: [Pending])
        /// The held snapshot is older than this event's first update: ask for another; the
        /// event is held.
        case snapshotTooOld
    }

    /// What to do with a snapshot.
    public enum SnapshotAction {
        /// Write the snapshot, forward `stale` (older than it), apply and forward `first`,
        /// then pass each of `rest` through ``diff(_:_:)`` in order.
        case synced(stale: [Pending], first: Pending, rest: [(DepthUpdateIds, Pending)])
        /// Every held event is older than the snapshot: it is kept (the caller keeps its
        /// levels) until the event that covers it.
        case holding
        /// The held events begin after the snapshot: ask for another (events stay held).
        case tooOld
        /// No snapshot was awaited (already synced): discard it.
        case ignored
    }

    public private(set) var phase: Phase = .awaitingSnapshot(requested: false)
    /// Events held, oldest first.
    public private(set) var held: [(ids: DepthUpdateIds, pending: Pending)] = []
    /// Most events held while waiting for a snapshot.
    public let bufferLimit: Int

    public init(bufferLimit: Int) {
        precondition(bufferLimit > 0)
        self.bufferLimit = bufferLimit
    }

    public var isSynced: Bool {
        if case .synced = phase { return true }
        return false
    }

    /// One diff event.
    public mutating func diff(_ ids: DepthUpdateIds, _ pending: Pending) -> DiffAction {
        switch phase {
        case .synced(let lastFinal):
            if ids.previousFinal == lastFinal {
                phase = .synced(lastFinal: ids.final)
                return .apply
            }
            phase = .awaitingSnapshot(requested: true)
            held = [(ids, pending)]
            return .sequenceGap(expected: lastFinal, got: ids.previousFinal)
        case .awaitingSnapshot(let requested):
            let dropped = hold(ids, pending)
            if !dropped.isEmpty { return .overflow(dropped: dropped) }
            if requested { return .held }
            phase = .awaitingSnapshot(requested: true)
            return .requestSnapshot
        case .holdingSnapshot(let snapshot):
            guard ids.final >= snapshot else {
                let dropped = hold(ids, pending)
                return dropped.isEmpty ? .held : .overflow(dropped: dropped)
            }
            guard ids.first <= snapshot else {
                phase = .awaitingSnapshot(requested: true)
                let dropped = hold(ids, pending)
                return dropped.isEmpty ? .snapshotTooOld : .overflow(dropped: dropped)
            }
            let stale = held.map(\.pending)
            held = []
            phase = .synced(lastFinal: ids.final)
            return .synced(stale: stale)
        }
    }

    /// A snapshot with `lastUpdateId` arrived.
    public mutating func snapshot(lastUpdateId: Int64) -> SnapshotAction {
        guard case .awaitingSnapshot = phase else { return .ignored }
        guard let index = held.firstIndex(where: { $0.ids.final >= lastUpdateId }) else {
            phase = .holdingSnapshot(lastUpdateId: lastUpdateId)
            return .holding
        }
        guard held[index].ids.first <= lastUpdateId else { return .tooOld }
        let stale = held[..<index].map(\.pending)
        let first = held[index]
        let rest = Array(held[(index + 1)...].map { ($0.ids, $0.pending) })
        held = []
        phase = .synced(lastFinal: first.ids.final)
        return .synced(stale: stale, first: first.pending, rest: rest)
    }

    /// The stream's data was interrupted (reconnect, rotation gap, dropped frames): a synced
    /// book or a held snapshot is no longer trusted, the next event asks for a new snapshot.
    /// Held events stay (they are still written; the procedure decides which apply). A
    /// request already in flight still counts: its snapshot is checked like any other.
    public mutating func interrupted() {
        switch phase {
        case .synced, .holdingSnapshot: phase = .awaitingSnapshot(requested: false)
        case .awaitingSnapshot: break
        }
    }

    /// A snapshot that was asked for will not come (it is asked for again on the next event).
    public mutating func snapshotAbandoned() {
        if case .awaitingSnapshot = phase { phase = .awaitingSnapshot(requested: false) }
    }

    /// Takes every held event (the stream is going away).
    public mutating func drain() -> [Pending] {
        defer {
            held = []
            phase = .awaitingSnapshot(requested: false)
        }
        return held.map(\.pending)
    }

    /// Holds an event; returns the oldest held events dropped to keep within the bound.
    private mutating func hold(_ ids: DepthUpdateIds, _ pending: Pending) -> [Pending] {
        var dropped: [Pending] = []
        if held.count >= bufferLimit {
            let excess = held.count - bufferLimit + 1
            dropped = held[..<excess].map(\.pending)
            held.removeFirst(excess)
        }
        held.append((ids, pending))
        return dropped
    }
}

extension OrderBookSync: Sendable where Pending: Sendable {}
