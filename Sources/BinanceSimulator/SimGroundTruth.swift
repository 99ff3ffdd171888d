import BridgeCore
#if canImport(Glibc)
import Glibc
#endif

/// The simulator's record of every message it sent, one JSON object per line (JSONL), so a
/// test can prove that nothing was lost, duplicated or altered downstream.
///
/// A data message sent to several connections is one line listing them all:
///
/// ```json
/// {"send_time_us":1764620000123456,"market":"usdm","stream":"btcusdt@aggTrade","conns":[1,4],"payload":{"e":"aggTrade",…}}
/// ```
///
/// `payload` is the exact bytes of the stream's data (inside `data` on a combined connection).
/// `send_time_us` is when it was queued to the sockets (wall clock, µs). A bad frame injected
/// as a fault is a line with `"fault"` (`malformed`, `truncated`, `oversized`) and `"bytes"`
/// instead of `payload`. The same format is what ``SimReplay`` reads.
///
/// Lines are buffered and written at the end of each market tick (``flush()``) with `fwrite`,
/// on the event loop: the page cache absorbs it, and one tick's lines are never torn.
final class SimGroundTruth {
    private let file: UnsafeMutablePointer<FILE>
    private var buffer: [UInt8] = []
    /// Lines written since start.
    private(set) var lines = 0

    /// Creates (truncates) the file at `path`.
    init(path: String) throws(SimFaultError) {
        guard let file = fopen(path, "w") else {
            throw SimFaultError("cannot write ground truth to \(path): \(String(cString: strerror(errno)))")
        }
        self.file = file
        buffer.reserveCapacity(1 << 20)
    }

    deinit { close() }

    private var closed = false

    /// One data message, sent to `connections`.
    func record(market: BinanceMarket, stream: String, connections: [Int], payload: String) {
        begin(market: market, stream: stream, connections: connections)
        append(#","payload":"#)
        append(payload)
        end()
    }

    /// One injected bad frame of `bytes` bytes on `connection`.
    func recordFault(_ kind: SimBadFrameKind, market: BinanceMarket, stream: String, connection: Int, bytes: Int) {
        begin(market: market, stream: stream, connections: [connection])
        append(#","fault":""#)
        append(kind.rawValue)
        append(#"","bytes":"#)
        append(String(bytes))
        end()
    }

    private func begin(market: BinanceMarket, stream: String, connections: [Int]) {
        append(#"{"send_time_us":"#)
        append(String(WallClock.microseconds()))
        append(#","market":""#)
        append(market.rawValue)
        append(#"","stream":""#)
        append(stream)  // stream names never contain quotes or backslashes (SimStream.isWellFormed)
        append(#"","conns":["#)
        for (index, id) in connections.sorted().enumerated() {
            if index > 0 { append(",") }
            append(String(id))
        }
        append("]")
    }

    private func end() {
        append("}\n")
        lines += 1
        if buffer.count >= 1 << 20 { flush() }
    }

    private func append(_ text: String) {
        buffer.append(contentsOf: text.utf8)
    }

    /// Writes the buffered lines.
    func flush() {
        guard !buffer.isEmpty, !closed else { return }
        buffer.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, $0.count, file) }
        fflush(file)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and closes the file (idempotent).
    func close() {
        guard !closed else { return }
        flush()
        closed = true
        fclose(file)
    }

}
