import BridgeCore
import Foundation
import Testing
@testable import BinanceSimulator

/// The bridge's order-book engine (``OrderBookEngine``: Binance's sync procedure, the
/// fixed-point book, the markers) fed by the simulator's own market — its diff payloads and
/// its REST snapshots — for a million diff events with `pu` gaps injected by losing events,
/// as a dropped message does in production. In-process (no sockets, no Redis: the process
/// tests in BridgeTests cover those).
///
/// Events per run: `BOOK_SYNC_EVENTS` (`scripts/test.sh` runs this suite alone, after the rest,
/// with 400,000, about 2.5 minutes of both cores in a debug build (1,000,000: about 6 minutes);
/// 100,000 when unset, about 25 s per run).
@Suite("Order books against the simulator's market")
struct BookSyncSimulationTests {
    /// 50 USD-M perpetuals: BTCUSDT's precisions under other names.
    static let instruments: [SimInstrument] = (0..<50).map { index in
        var instrument = SimInstrument.defaults[index % 3]
        let base = "S\(index)"
        instrument.symbol = base + "USDT"
        instrument.pair = base + "USDT"
        instrument.baseAsset = base
        return instrument
    }

    /// What a stream's entries looked like, in order.
    enum Written: Equatable {
        case snapshot(lastUpdateId: Int64)
        case update(final: Int64)
        case gap
    }

    @Test(arguments: [2.5, 100.0])
    func diffEventsWithGapsInjected(gapsPerMillion: Double) throws {
        let totalEvents = Int(ProcessInfo.processInfo.environment["BOOK_SYNC_EVENTS"] ?? "") ?? 100_000
        let feed = SimMarketFeed(market: .usdm, instruments: Self.instruments, seed: 7, rate: 50, liquidationsPerSecond: 0)
        let streams = Self.instruments.map { "\($0.streamSymbol)@depth@100ms" }
        let names = try Dictionary(uniqueKeysWithValues: streams.map { ($0, try BinanceStreamName($0, market: .usdm)) })
        let wanted = Set(streams)
        let precision = Dictionary(uniqueKeysWithValues: Self.instruments.map { instrument in
            (instrument.symbol, InstrumentPrecision(tickSize: instrument.tickSizeText, stepSize: instrument.stepSizeText))
        })
        // The events to lose: exactly the rate asked for, at seeded positions.
        var random = SimRandom(seed: UInt64(gapsPerMillion * 10), stream: 1)
        let lossCount = Int((gapsPerMillion * Double(totalEvents) / 1_000_000).rounded(.up))
        var losses = Set<Int>()
        while losses.count < lossCount { losses.insert(Int(random.next() % UInt64(totalEvents * 9 / 10)) + totalEvents / 20) }

        var engine = OrderBookEngine(settings: .init(bufferEvents: 2_000))
        var now: Int64 = 1_800_000_000_000
        var delivered: [String: [Int64]] = [:]
        var written: [String: [Written]] = [:]
        var lost: [String: Int] = [:]
        /// Snapshot requests in flight: stream → ticks until the REST answer (0–150 ms late).
        var inFlight: [String: Int] = [:]
        /// An old answer served now and then instead of a fresh one (a slow replica), to
        /// exercise the too-old path.
        var staleAnswer: [String: String] = [:]
        feed.advance(to: now, wants: { _ in false }) { _, _ in }
        // Before any event: a snapshot older than everything held.
        for stream in streams { staleAnswer[stream] = Self.restBody(feed, names[stream]!.contractSymbol!) }
        var staleServed = 0
        var checkedAfterSync = 0
        var events = 0
        func record(_ output: OrderBookEngine.Output) throws {
            for entry in output.entries {
                switch entry.type {
                case .depthSnapshot: written[entry.stream, default: []].append(.snapshot(lastUpdateId: Int64(entry.value(of: "last_update_id")!)!))
                case .depthUpdate: written[entry.stream, default: []].append(.update(final: Int64(entry.value(of: "u")!)!))
                case .gap: written[entry.stream, default: []].append(.gap)
                default: Issue.record("unexpected entry \(entry.type)")
                }
            }
            for stream in output.requests.map(\.rawValue) where inFlight[stream] == nil { inFlight[stream] = Int(random.next() % 4) }
            for notice in output.notices {
                guard case .synced(let stream, _, _, _) = notice else { continue }
                // Right after each sync the book equals the simulator's at the same update id.
                let book = try #require(engine.book(stream))
                let symbol = String(stream.prefix { $0 != "@" })
                let truth = feed.model(for: symbol)!.book.checksum(at: book.lastUpdateId)
                #expect(truth == book.checksum, "\(stream) after a sync at \(book.lastUpdateId)")
                checkedAfterSync += 1
            }
        }

        while events < totalEvents {
            // 50 ms ticks: the 100 ms depth flushes every other tick, so a snapshot taken on
            // the ticks between is ahead of every event sent.
            now += 50
            var frames: [(String, String)] = []
            feed.advance(to: now, wants: { wanted.contains($0) }) { name, payload in frames.append((name, payload)) }
            for (stream, payload) in frames {
                defer { events += 1 }
                if losses.contains(events) {
                    lost[stream, default: 0] += 1
                    continue
                }
                let bytes = Array(payload.utf8)
                let final = try bytes.withUnsafeBytes { try DepthDiff.parse(frame: $0, scale: .fallback).finalUpdateId }
                delivered[stream, default: []].append(final)
                // A stand-in for the normalized entry: the engine only carries it.
                var entry = StreamEntry(stream: stream, market: .usdm, type: .depthUpdate, timeMicroseconds: now * 1_000, reservingCapacity: 64)
                entry.appendField("u", final)
                var output = OrderBookEngine.Output()
                bytes.withUnsafeBytes { frame in
                    engine.diff(frame: frame, entry: entry, stream: names[stream]!, receive: now * 1_000, precision: { precision[names[stream]!.contractSymbol!] }, into: &output)
                }
                try record(output)
            }
            // REST answers due this tick: the simulator's book now (between depth flushes it
            // is ahead of every event sent, so some snapshots are newer than all held diffs).
            for (stream, ticks) in inFlight {
                guard ticks == 0 else {
                    inFlight[stream] = ticks - 1
                    continue
                }
                inFlight[stream] = nil
                let symbol = names[stream]!.contractSymbol!
                let fresh = Self.restBody(feed, symbol)
                var body = fresh
                if let old = staleAnswer[stream], random.next() % 5 == 0 {
                    body = old
                    staleServed += 1
                }
                staleAnswer[stream] = fresh
                var output = OrderBookEngine.Output()
                Array(body.utf8).withUnsafeBytes { engine.snapshot(stream: stream, body: $0, receivedAt: now * 1_000, into: &output) }
                try record(output)
            }
        }

        let status = Dictionary(uniqueKeysWithValues: engine.status.map { ($0.stream, $0) })
        var gapped = 0
        for stream in streams {
            let entries = written[stream] ?? []
            let gaps = entries.filter { $0 == .gap }.count
            let book = try #require(status[stream])
            // Only streams that lost an event resync, once per break.
            if lost[stream, default: 0] == 0 {
                #expect(gaps == 0 && book.syncs == 1, "\(stream) lost nothing but has \(gaps) gaps, \(book.syncs) syncs")
            } else {
                gapped += 1
                #expect(gaps <= lost[stream]!, "\(stream)")
                #expect(book.syncs == 1 + gaps - (book.synced ? 0 : 1), "\(stream): \(book.syncs) syncs for \(gaps) gaps")
            }
            // Nothing lost or repeated: every delivered event is written once, in order.
            let updates = entries.compactMap { if case .update(let final) = $0 { return final } else { return nil } }
            let heldAtEnd = book.held
            #expect(updates == Array(delivered[stream]!.dropLast(heldAtEnd)), "\(stream) wrote \(updates.count) of \(delivered[stream]!.count) updates")
            // A stream starts with a snapshot, and every gap is followed by one before anything else.
            #expect(entries.first.map { if case .snapshot = $0 { true } else { false } } ?? false, "\(stream) starts with \(String(describing: entries.first))")
            for (index, entry) in entries.enumerated() where entry == .gap && index + 1 < entries.count {
                guard case .snapshot = entries[index + 1] else {
                    Issue.record("\(stream): a gap is followed by \(entries[index + 1])")
                    continue
                }
            }
            // Now, after a depth flush, the simulator's book is at the last event sent: the
            // books are equal level by level.
            if book.synced, let ours = engine.book(stream), let theirs = feed.model(for: names[stream]!.contractSymbol!)?.book, ours.lastUpdateId == theirs.lastUpdateId {
                #expect(ours.checksum == theirs.checksum, "\(stream) at the end")
                let instrument = Self.instruments.first { $0.symbol == names[stream]!.contractSymbol! }!
                let scale = precision[instrument.symbol]!
                let shift = instrument.price.decimals - scale.priceDecimals
                let rescale = (0..<shift).reduce(Int64(1)) { value, _ in value * 10 }
                #expect(Array(ours.bids.bestFirst()).map { BookLevel(price: $0.price * rescale, quantity: $0.quantity) } == theirs.bids.map { BookLevel(price: $0.price, quantity: $0.quantity) })
                #expect(Array(ours.asks.bestFirst()).map { BookLevel(price: $0.price * rescale, quantity: $0.quantity) } == theirs.asks.map { BookLevel(price: $0.price, quantity: $0.quantity) })
            }
        }
        #expect(gapped > 0 && gapped <= lossCount)
        #expect(checkedAfterSync == engine.statistics.syncs)
        #expect(engine.statistics.syncs >= streams.count + gapped)
        #expect(staleServed > 0 && engine.statistics.snapshotsTooOld > 0, "the too-old path ran")
        #expect(engine.statistics.updatesApplied > totalEvents * 9 / 10)
        print("books: \(events) events, \(lossCount) lost, \(engine.statistics.sequenceGaps) gaps on \(gapped) streams, \(engine.statistics.syncs) syncs, \(engine.statistics.snapshotsTooOld) snapshots too old")
    }

    /// The REST depth body the simulator answers for `symbol` (as `SimRESTHandler` writes it).
    static func restBody(_ feed: SimMarketFeed, _ symbol: String) -> String {
        let snapshot = feed.snapshot(symbol: symbol, limit: 1_000)!
        var json = JSONWriter(capacity: 64 + 2_000 * 48)
        json.beginObject()
        json.int("lastUpdateId", snapshot.lastUpdateId)
        json.levels("bids", snapshot.bids[...], snapshot.instrument)
        json.levels("asks", snapshot.asks[...], snapshot.instrument)
        json.endObject()
        return json.text
    }
}
