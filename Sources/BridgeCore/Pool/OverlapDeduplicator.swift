/// Merges the frames of two connections carrying the same streams during a rotation, so
/// that every message is delivered once across the switch-over.
///
/// Assumption (Binance's fan-out): both sockets carry the same sequence of payloads per
/// stream, each possibly starting and ending at a different point. Per stream:
/// - frames from the old connection are delivered (and their fingerprints remembered, the
///   last `capacityPerStream`) until the stream switches;
/// - frames from the new connection are buffered (at most `capacityPerStream`) until the
///   two sequences align: the buffered sequence matches the old history at exactly one
///   offset (it may start before the oldest remembered frame: those frames were delivered)
///   and reaches (or passes) the old connection's latest frame. The stream then
///   switches: the buffered frames the old connection has not delivered are delivered,
///   and from then on the new connection's frames are delivered and the old one's dropped;
/// - if the sequences match at several offsets (identical payloads repeated), it waits for
///   more frames to disambiguate.
///
/// Fallback, documented: when a stream's buffer overflows before it aligns, or at
/// ``finish()`` (the switch-over; quiet streams switch here), the stream switches anyway,
/// preferring a duplicate to a loss: with a matching offset, the offset assuming the
/// fewest duplicates is used (and frames the new connection still owes are dropped when
/// they arrive); without one, the whole buffer is delivered. Each fallback is counted in
/// ``Statistics``, so the caller can report it. A switch that cannot rule out a loss (no
/// overlap between the two sequences: the new one may start after a hole, or has not
/// started) lists the stream in ``unprovenStreams``, so the caller can write a gap marker;
/// an ambiguous overlap may repeat frames but loses none, and is not listed.
///
/// Pure and generic: `Key` names a stream (the raw name from the frame, no parsing), and
/// `Payload` is whatever the caller delivers (bytes, a buffer); the caller supplies a
/// fingerprint of the payload's bytes, e.g. ``fingerprint(of:)``.
public struct OverlapDeduplicator<Key: Hashable & Sendable, Payload: Sendable>: Sendable {
    /// Which connection a frame came from.
    public enum Source: Sendable, Hashable {
        /// The connection being replaced.
        case old
        /// The replacement.
        case new
    }

    /// Frames released by ``finish()`` for one stream, in order.
    public struct Delivery: Sendable {
        /// The stream.
        public let stream: Key
        /// Its payloads, in order.
        public let payloads: [Payload]
    }

    /// Counters of the overlap.
    public struct Statistics: Sendable, Equatable {
        /// Frames dropped as already delivered by the other connection.
        public internal(set) var duplicatesDropped = 0
        /// Streams switched because their sequences aligned.
        public internal(set) var alignedStreams = 0
        /// Streams switched at ``finish()`` with nothing buffered, or with their sequences aligned.
        public internal(set) var finishedStreams = 0
        /// Streams switched without a proven alignment (buffer overflow, or unresolved at
        /// ``finish()``): a duplicate is possible.
        public internal(set) var fallbackStreams = 0
    }

    private struct Frame: Sendable {
        var fingerprint: UInt64
        var payload: Payload
    }

    private struct StreamState: Sendable {
        var switched = false
        /// Forgotten by ``remove(_:)`` (unsubscribed): passes through, never reported.
        var removed = false
        var oldHistory: [UInt64] = []
        var buffer: [Frame] = []
        /// After a fallback switch with the new connection behind: fingerprints it still owes.
        var owed: ArraySlice<UInt64> = []
    }

    /// Frames of one stream kept from each side.
    public let capacityPerStream: Int
    /// Counters so far.
    public private(set) var statistics = Statistics()
    /// True after ``finish()``: every stream is on the new connection.
    public private(set) var isFinished = false
    /// Streams switched without any overlap between the two connections' sequences, in the
    /// order it happened: frames between them may be missing.
    public private(set) var unprovenStreams: [Key] = []
    private var streams: [Key: StreamState] = [:]
    private var order: [Key] = []

    /// A deduplicator buffering at most `capacityPerStream` frames per stream and side.
    public init(capacityPerStream: Int) {
        precondition(capacityPerStream > 0)
        self.capacityPerStream = capacityPerStream
    }

    /// Whether `stream` is delivered from the new connection already.
    public func hasSwitched(_ stream: Key) -> Bool { isFinished || streams[stream]?.switched == true }

    /// Frames of `stream` buffered from the new connection.
    public func bufferedCount(_ stream: Key) -> Int { streams[stream]?.buffer.count ?? 0 }

    /// A frame of `stream` from `source`; returns the payloads to deliver now, in order
    /// (none, this one, or this one preceded by frames buffered earlier).
    public mutating func receive(_ payload: Payload, fingerprint: UInt64, stream: Key, from source: Source) -> [Payload] {
        if isFinished && streams[stream] == nil {
            return source == .new ? [payload] : []
        }
        // Taken out of the dictionary so that its arrays stay uniquely referenced (appending
        // to a copy would copy the whole history on every frame).
        var state: StreamState
        if let existing = streams.removeValue(forKey: stream) {
            state = existing
        } else {
            state = StreamState()
            order.append(stream)
        }
        defer { streams[stream] = state }
        if state.switched {
            guard source == .new else {
                statistics.duplicatesDropped += 1
                return []
            }
            if let owed = state.owed.first {
                state.owed = owed == fingerprint ? state.owed.dropFirst() : []
                if owed == fingerprint {
                    statistics.duplicatesDropped += 1
                    return []
                }
            }
            return [payload]
        }
        var delivered: [Payload] = []
        switch source {
        case .old:
            delivered.append(payload)
            state.oldHistory.append(fingerprint)
            if state.oldHistory.count > capacityPerStream { state.oldHistory.removeFirst(state.oldHistory.count - capacityPerStream) }
        case .new:
            state.buffer.append(Frame(fingerprint: fingerprint, payload: payload))
        }
        let offsets = Self.alignments(old: state.oldHistory, new: state.buffer)
        if offsets.count == 1, offsets[0] + state.buffer.count >= state.oldHistory.count {
            delivered += switchStream(&state, offset: offsets[0])
            statistics.alignedStreams += 1
        } else if state.buffer.count > capacityPerStream {
            delivered += forceSwitch(&state, stream)
            statistics.fallbackStreams += 1
        }
        return delivered
    }

    /// The switch-over: every stream not yet switched switches now (see the fallback in the
    /// type's documentation); returns the buffered frames to deliver, per stream, in the
    /// order streams were first seen. Later old frames are dropped, new ones delivered.
    public mutating func finish() -> [Delivery] {
        guard !isFinished else { return [] }
        isFinished = true
        var deliveries: [Delivery] = []
        for key in order {
            guard var state = streams[key], !state.switched else { continue }
            let offsets = Self.alignments(old: state.oldHistory, new: state.buffer)
            let payloads: [Payload]
            if state.buffer.isEmpty {
                payloads = []
                statistics.finishedStreams += 1
                // The old connection delivered, the new one nothing yet: its first frame may
                // follow a hole.
                if !state.oldHistory.isEmpty { unprovenStreams.append(key) }
            } else if offsets.count == 1 {
                payloads = switchStream(&state, offset: offsets[0])
                statistics.finishedStreams += 1
            } else {
                payloads = forceSwitch(&state, key)
                statistics.fallbackStreams += 1
            }
            state.switched = true
            streams[key] = state
            if !payloads.isEmpty { deliveries.append(Delivery(stream: key, payloads: payloads)) }
        }
        return deliveries
    }

    /// Forgets `stream` (unsubscribed during the overlap): its buffered frames are dropped
    /// and later frames of it pass through as after ``finish()`` would.
    public mutating func remove(_ stream: Key) {
        guard streams[stream] != nil else { return }
        streams[stream] = StreamState(switched: true, removed: true)
    }

    /// Streams already delivered from the new connection (switched before ``finish()``), in
    /// the order first seen. If the rotation is abandoned instead of finished, their frames
    /// the old connection sent meanwhile were dropped as duplicates of the new one's, which
    /// stops: data may be missing (and repeated) there.
    public var switchedStreams: [Key] {
        isFinished ? [] : order.filter { streams[$0].map { $0.switched && !$0.removed } ?? false }
    }

    /// 64-bit FNV-1a of `bytes`: a cheap, allocation-free fingerprint for ``receive(_:fingerprint:stream:from:)``.
    public static func fingerprint(of bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }

    // MARK: Alignment

    /// Offsets `i` at which the buffered new sequence starts relative to the old history
    /// (`new[j]` is `old[i + j]`; a negative `i` means the new connection started before the
    /// oldest remembered frame, which the old connection has delivered): at least one frame
    /// overlaps and every overlapping frame matches.
    private static func alignments(old: [UInt64], new: [Frame]) -> [Int] {
        guard !old.isEmpty, !new.isEmpty else { return [] }
        var offsets: [Int] = []
        for offset in (1 - new.count)..<old.count {
            let first = max(0, -offset)  // first overlapping index in `new`
            let end = min(new.count, old.count - offset)
            guard old[offset + first] == new[first].fingerprint else { continue }
            if (first + 1..<end).allSatisfy({ old[offset + $0] == new[$0].fingerprint }) {
                offsets.append(offset)
            }
        }
        return offsets
    }

    /// Switches with the new sequence starting at old offset `offset`: delivers the buffered
    /// frames past the old connection's latest, remembers what the new one still owes.
    private mutating func switchStream(_ state: inout StreamState, offset: Int) -> [Payload] {
        let alreadyDelivered = state.oldHistory.count - offset
        let payloads = state.buffer.dropFirst(alreadyDelivered).map(\.payload)
        let end = offset + state.buffer.count  // ≥ 1: at least one frame overlaps
        state.owed = end < state.oldHistory.count ? state.oldHistory[end...] : []
        statistics.duplicatesDropped += min(alreadyDelivered, state.buffer.count)
        state.switched = true
        state.buffer = []
        state.oldHistory = []
        return payloads
    }

    /// Switches without a proven alignment, preferring a duplicate to a loss.
    private mutating func forceSwitch(_ state: inout StreamState, _ stream: Key) -> [Payload] {
        if let offset = Self.alignments(old: state.oldHistory, new: state.buffer).max() {
            return switchStream(&state, offset: offset)
        }
        unprovenStreams.append(stream)
        let payloads = state.buffer.map(\.payload)
        state.switched = true
        state.buffer = []
        state.oldHistory = []
        return payloads
    }
}
