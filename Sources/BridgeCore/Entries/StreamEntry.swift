/// The `type` of an entry in a data stream (Redis contract §2).
public enum EntryType: String, Sendable, CaseIterable, Hashable {
    case aggTrade = "agg_trade"
    case trade
    case bookTicker = "book_ticker"
    case depthUpdate = "depth_update"
    case depthPartial = "depth_partial"
    case depthSnapshot = "depth_snapshot"
    case markPrice = "mark_price"
    case kline
    case continuousKline = "continuous_kline"
    case liquidation
    case ticker
    case miniTicker = "mini_ticker"
    case indexPrice = "index_price"
    case contractInfo = "contract_info"
    case compositeIndex = "composite_index"
    case assetIndex = "asset_index"
    case raw
    /// Marker: data may be missing.
    case gap
    /// Marker: a subscription's state changed.
    case status

    /// True for `gap` and `status`, which carry no market data.
    public var isMarker: Bool { self == .gap || self == .status }
}

/// One entry bound for one Redis Stream (`{prefix}:{market}:{stream}`): flat field/value
/// pairs of text, already framed as RESP bulk strings (`$5\r\nprice\r\n$7\r\n25000.1\r\n…`).
///
/// Why RESP in the core: the publisher copies an entry's fields into its pipeline with one
/// `memcpy`, and an entry is one heap allocation however many fields it has. The core knows
/// only the framing of a bulk string, nothing else about Redis.
public struct StreamEntry: Sendable {
    /// The Binance stream name (the key's last part), exactly as subscribed.
    public var stream: String
    /// The market of the stream's key: the subscription's market. (An all-market row of the
    /// other market says so in its `market` field, but lives in this market's stream.)
    public var market: BinanceMarket
    /// The entry type, also written as the first field.
    public var type: EntryType
    /// The field/value pairs as RESP bulk strings: the first ``usedBytes`` of a buffer sized
    /// once, written through pointers (no per-byte `Array.append`).
    private var storage: [UInt8]
    /// Bytes of `storage` written.
    public private(set) var usedBytes = 0
    /// Number of field/value pairs.
    public private(set) var fieldCount = 0
    /// When the data was read (data entries: `recv_time_us`) or the marker made, µs since the
    /// epoch: bounds the window of an `overflow` gap when the entry has to be dropped.
    public var timeMicroseconds: Int64

    /// An empty entry of `type`; ``appendField(_:_:)`` and friends fill it. The `type`
    /// field is written first. `capacity` should cover the whole entry: past it the buffer
    /// doubles (a second allocation).
    public init(stream: String, market: BinanceMarket, type: EntryType, timeMicroseconds: Int64 = 0, reservingCapacity capacity: Int = 256) {
        self.stream = stream
        self.market = market
        self.type = type
        self.timeMicroseconds = timeMicroseconds
        // Not zero-filled (a depth entry's 2 KiB memset was measurable): only the first
        // `usedBytes` are ever read, and every one of them is written first.
        let count = max(capacity, 64)
        storage = Array(unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
        appendField("type", type.rawValue)
    }

    /// Bytes the entry holds in memory (what the publisher's buffer bound counts): its whole
    /// buffer, not only the part written.
    public var byteCount: Int { storage.count + stream.utf8.count }

    /// The fields as RESP bulk strings.
    public func withFieldBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try storage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<usedBytes])) }
    }

    // MARK: Writing fields

    /// Appends `name` = `value`.
    public mutating func appendField(_ name: StaticString, _ value: String) {
        var value = value
        value.withUTF8 { appendField(name, bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Appends `name` = the bytes `value` (copied as they are).
    public mutating func appendField(_ name: StaticString, bytes value: UnsafeRawBufferPointer) {
        name.withUTF8Buffer { nameBytes in
            write(name: UnsafeRawBufferPointer(nameBytes), valueCount: value.count) { destination in
                if value.count > 0 { destination.copyMemory(from: value.baseAddress!, byteCount: value.count) }
            }
        }
    }

    /// Appends `name` = `value` in decimal.
    public mutating func appendField(_ name: StaticString, _ value: Int64) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for Int64.min
        withUnsafeMutableBytes(of: &digits) { buffer in
            var magnitude = value.magnitude
            var index = buffer.count
            repeat {
                index -= 1
                buffer[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                index -= 1
                buffer[index] = UInt8(ascii: "-")
            }
            appendField(name, bytes: UnsafeRawBufferPointer(rebasing: buffer[index...]))
        }
    }

    /// Appends `name` = the decimal `value` read from `bytes`, formatted at `precision`
    /// decimals, or as written when `precision` is nil.
    public mutating func appendField(_ name: StaticString, decimal value: DecimalText, in bytes: UnsafeRawBufferPointer, precision: Int?) {
        guard let precision else {
            // The exchange's own text, trailing zeros included.
            return appendField(name, bytes: UnsafeRawBufferPointer(rebasing: bytes[value.start..<value.end]))
        }
        name.withUTF8Buffer { nameBytes in
            write(name: UnsafeRawBufferPointer(nameBytes), valueCount: value.formattedCount(precision: precision)) { destination in
                value.write(from: bytes, precision: precision, to: destination)
            }
        }
    }

    /// Writes one field: `$<n>\r\n<name>\r\n$<m>\r\n<value>\r\n`, the value by `value`
    /// into the `valueCount` bytes it is given.
    @inline(__always)
    private mutating func write(name: UnsafeRawBufferPointer, valueCount: Int, value: (UnsafeMutableRawPointer) -> Void) {
        // Headers take at most 1 + 20 + 2 bytes each; two CRLFs follow the payloads.
        let needed = name.count + valueCount + 2 * 23 + 4
        if usedBytes + needed > storage.count {
            storage.append(contentsOf: repeatElement(0, count: max(storage.count, needed)))
        }
        let used = usedBytes
        usedBytes = storage.withUnsafeMutableBytes { buffer -> Int in
            var cursor = buffer.baseAddress! + used
            cursor += Self.writeHeader(name.count, to: cursor)
            if name.count > 0 { cursor.copyMemory(from: name.baseAddress!, byteCount: name.count) }
            cursor += name.count
            cursor.storeBytes(of: Self.crlf, as: UInt16.self)
            cursor += 2
            cursor += Self.writeHeader(valueCount, to: cursor)
            value(cursor)
            cursor += valueCount
            cursor.storeBytes(of: Self.crlf, as: UInt16.self)
            cursor += 2
            return cursor - buffer.baseAddress!
        }
        fieldCount += 1
    }

    /// `\r\n` as one little-endian store.
    private static let crlf = UInt16(UInt8(ascii: "\r")) | UInt16(UInt8(ascii: "\n")) << 8

    // MARK: Reading (tests, tools, the `list` of a failed entry)

    /// The fields as (name, value) text pairs, in order.
    public var decodedFields: [(String, String)] {
        var result: [(String, String)] = []
        var strings: [String] = []
        var index = 0
        let fields = storage[0..<usedBytes]
        while index < fields.count {
            // `$<len>\r\n<bytes>\r\n`
            index += 1
            var length = 0
            while fields[index] != UInt8(ascii: "\r") {
                length = length * 10 + Int(fields[index] - UInt8(ascii: "0"))
                index += 1
            }
            index += 2
            strings.append(String(decoding: fields[index..<(index + length)], as: UTF8.self))
            index += length + 2
        }
        for pair in stride(from: 0, to: strings.count - 1, by: 2) { result.append((strings[pair], strings[pair + 1])) }
        return result
    }

    /// The value of field `name`, if present.
    public func value(of name: String) -> String? {
        decodedFields.first { $0.0 == name }?.1
    }

    // MARK: Framing

    /// Writes `$<length>\r\n` at `destination`; returns its length.
    @inline(__always)
    private static func writeHeader(_ length: Int, to destination: UnsafeMutableRawPointer) -> Int {
        var digits = 1
        var rest = length / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        destination.storeBytes(of: UInt8(ascii: "$"), as: UInt8.self)
        var value = length
        for position in stride(from: digits, to: 0, by: -1) {
            destination.storeBytes(of: UInt8(ascii: "0") + UInt8(value % 10), toByteOffset: position, as: UInt8.self)
            value /= 10
        }
        destination.storeBytes(of: crlf, toByteOffset: digits + 1, as: UInt16.self)
        return digits + 3
    }
}
