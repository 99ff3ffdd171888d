import BridgeCore
#if canImport(Glibc)
import Glibc
#endif

/// Replays a JSONL capture instead of simulating a market (`--replay PATH`).
///
/// The format is ``SimGroundTruth``'s, one object per line:
/// `{"send_time_us":N,"market":"usdm","stream":"btcusdt@aggTrade","payload":{…}}`. The time
/// key may also be spelt `recv_time_us` or `time_us` (a capture made on the receiving side);
/// `market` defaults to `usdm`; other keys (`conns`) are ignored, and so are fault lines (with
/// `fault`) and blank lines. Each payload is sent byte for byte to the connections subscribed
/// to its stream when its time comes, at the recorded pace divided by `speed`; its event times
/// are the recorded ones. A malformed line is counted and skipped. The replay's clock starts
/// when the first connection subscribes to anything, so a client connecting after start-up
/// still receives the whole capture; after the last line the streams fall silent.
///
/// The file is read lazily, one line ahead, so a capture of any size replays in constant
/// memory. REST keeps serving the seeded model's books, which do not match a capture.
final class SimReplay {
    struct Record: Equatable {
        var timeMicroseconds: Int64
        var market: BinanceMarket
        var stream: String
        var payload: String
    }

    private let file: UnsafeMutablePointer<FILE>
    private let speed: Double
    private var next: Record?
    private var firstTime: Int64?
    private var startWallMicroseconds: Int64 = 0
    private(set) var replayed = 0
    private(set) var malformedLines = 0
    private(set) var finished = false

    init(path: String, speed: Double) throws(SimFaultError) {
        guard speed > 0 else { throw SimFaultError("replay speed must be positive, got \(speed)") }
        guard let file = fopen(path, "r") else {
            throw SimFaultError("cannot read replay file \(path): \(String(cString: strerror(errno)))")
        }
        self.file = file
        self.speed = speed
    }

    deinit { fclose(file) }

    /// Sends (via `emit`) every record due at `nowMicroseconds` of wall-clock time.
    func advance(toWallMicroseconds now: Int64, emit: (Record) -> Void) {
        if firstTime == nil {
            guard let first = readRecord() else { return }
            next = first
            firstTime = first.timeMicroseconds
            startWallMicroseconds = now
        }
        while let record = next {
            let offset = Double(record.timeMicroseconds - firstTime!) / speed
            guard Double(now - startWallMicroseconds) >= offset else { return }
            emit(record)
            replayed += 1
            next = readRecord()
        }
    }

    /// The next valid data line, or nil at the end of the file.
    private func readRecord() -> Record? {
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while true {
            let length = getline(&line, &capacity, file)
            guard length >= 0, let line else {
                finished = true
                return nil
            }
            let bytes = UnsafeRawBufferPointer(start: line, count: length)
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { continue }
            switch Self.parse(bytes) {
            case .record(let record): return record
            case .skip: continue
            case .malformed: malformedLines += 1
            }
        }
    }

    enum Line: Equatable {
        case record(Record)
        case skip
        case malformed
    }

    /// Parses one capture line, keeping the payload's exact bytes.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> Line {
        var scanner = JSONFieldScanner(bytes)
        guard let fields = scanner.topLevelFields() else { return .malformed }
        var time: Int64?
        var market = BinanceMarket.usdm
        var stream: String?
        var payload: String?
        for (key, range) in fields {
            let value = UnsafeRawBufferPointer(rebasing: bytes[range])
            switch key {
            case "send_time_us", "recv_time_us", "time_us":
                guard let number = Int64(String(decoding: value, as: UTF8.self)) else { return .malformed }
                time = number
            case "market":
                guard let name = JSONFieldScanner.plainString(value), let parsed = BinanceMarket(rawValue: name) else { return .malformed }
                market = parsed
            case "stream":
                guard let name = JSONFieldScanner.plainString(value) else { return .malformed }
                stream = name
            case "payload":
                payload = String(decoding: value, as: UTF8.self)
            case "fault":
                return .skip
            default:
                break
            }
        }
        guard let time, let stream, let payload else { return .malformed }
        return .record(Record(timeMicroseconds: time, market: market, stream: stream, payload: payload))
    }
}
