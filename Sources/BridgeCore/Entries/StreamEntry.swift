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
    /// The field/value pairs as RESP bulk strings.
    public private(set) var fields: [UInt8]
    /// Number of field/value pairs.
    public private(set) var fieldCount = 0
    /// When the data was read (data entries: `recv_time_us`) or the marker made, µs since the
    /// epoch: bounds the window of an `overflow` gap when the entry has to be dropped.
    public var timeMicroseconds: Int64

    /// An empty entry of `type`; ``appendField(_:_:)`` and friends fill it. The `type`
    /// field is written first.
    public init(stream: String, market: BinanceMarket, type: EntryType, timeMicroseconds: Int64 = 0, reservingCapacity capacity: Int = 256) {
        self.stream = stream
        self.market = market
        self.type = type
        self.timeMicroseconds = timeMicroseconds
        fields = []
        fields.reserveCapacity(capacity)
        appendField("type", type.rawValue)
    }

    /// Bytes the entry occupies (what the publisher's buffer bound counts).
    public var byteCount: Int { fields.count + stream.utf8.count }

    // MARK: Writing fields

    /// Appends `name` = `value`.
    public mutating func appendField(_ name: StaticString, _ value: String) {
        appendName(name)
        var value = value
        value.withUTF8 { appendBulk(UnsafeRawBufferPointer($0)) }
    }

    /// Appends `name` = the bytes `value` (copied as they are).
    public mutating func appendField(_ name: StaticString, bytes value: UnsafeRawBufferPointer) {
        appendName(name)
        appendBulk(value)
    }

    /// Appends `name` = `value` in decimal.
    public mutating func appendField(_ name: StaticString, _ value: Int64) {
        appendName(name)
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
            appendBulk(UnsafeRawBufferPointer(rebasing: buffer[index...]))
        }
    }

    /// Appends `name` = the decimal `value` read from `bytes`, formatted at `precision`
    /// decimals, or as written when `precision` is nil.
    public mutating func appendField(_ name: StaticString, decimal value: DecimalText, in bytes: UnsafeRawBufferPointer, precision: Int?) {
        appendName(name)
        guard let precision else {
            // The exchange's own text, trailing zeros included.
            return appendBulk(UnsafeRawBufferPointer(rebasing: bytes[value.start..<value.end]))
        }
        let count = value.formattedCount(precision: precision)
        appendHeader(count)
        let offset = fields.count
        fields.append(contentsOf: repeatElement(0, count: count))
        fields.withUnsafeMutableBytes { buffer in
            value.write(from: bytes, precision: precision, to: buffer.baseAddress! + offset)
        }
        appendCRLF()
    }

    /// Starts a value built piecewise with ``appendValueBytes(_:)``; finish with
    /// ``endValue(_:)`` passing the returned token.
    public mutating func beginValue(_ name: StaticString) -> Int {
        appendName(name)
        return fields.count
    }

    /// Appends bytes to the value begun by ``beginValue(_:)``.
    public mutating func appendValueBytes(_ bytes: UnsafeRawBufferPointer) {
        fields.append(contentsOf: bytes)
    }

    /// Appends one ASCII byte to the value begun by ``beginValue(_:)``.
    public mutating func appendValueByte(_ byte: UInt8) {
        fields.append(byte)
    }

    /// Appends a decimal, formatted as ``appendField(_:decimal:in:precision:)`` does, to the
    /// value begun by ``beginValue(_:)``.
    public mutating func appendValueDecimal(_ value: DecimalText, in bytes: UnsafeRawBufferPointer, precision: Int?) {
        guard let precision else {
            return fields.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[value.start..<value.end]))
        }
        let count = value.formattedCount(precision: precision)
        let offset = fields.count
        fields.append(contentsOf: repeatElement(0, count: count))
        fields.withUnsafeMutableBytes { buffer in
            value.write(from: bytes, precision: precision, to: buffer.baseAddress! + offset)
        }
    }

    /// Finishes a value begun at `token`: frames it as a bulk string.
    public mutating func endValue(_ token: Int) {
        let length = fields.count - token
        var header: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let headerCount = withUnsafeMutableBytes(of: &header) { Self.writeHeader(length, to: $0) }
        withUnsafeBytes(of: &header) { fields.insert(contentsOf: $0[0..<headerCount], at: token) }
        appendCRLF()
    }

    // MARK: Reading (tests, tools, the `list` of a failed entry)

    /// The fields as (name, value) text pairs, in order.
    public var decodedFields: [(String, String)] {
        var result: [(String, String)] = []
        var strings: [String] = []
        var index = 0
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

    private mutating func appendName(_ name: StaticString) {
        fieldCount += 1
        name.withUTF8Buffer { appendBulk(UnsafeRawBufferPointer($0)) }
    }

    private mutating func appendBulk(_ value: UnsafeRawBufferPointer) {
        appendHeader(value.count)
        fields.append(contentsOf: value)
        appendCRLF()
    }

    private mutating func appendHeader(_ length: Int) {
        var header: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let count = withUnsafeMutableBytes(of: &header) { Self.writeHeader(length, to: $0) }
        withUnsafeBytes(of: &header) { fields.append(contentsOf: $0[0..<count]) }
    }

    @inline(__always)
    private mutating func appendCRLF() {
        fields.append(UInt8(ascii: "\r"))
        fields.append(UInt8(ascii: "\n"))
    }

    /// Writes `$<length>\r\n` at the start of `buffer` (24 bytes); returns its length.
    private static func writeHeader(_ length: Int, to buffer: UnsafeMutableRawBufferPointer) -> Int {
        var digits = 1
        var rest = length / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        buffer[0] = UInt8(ascii: "$")
        var value = length
        for position in stride(from: digits, to: 0, by: -1) {
            buffer[position] = UInt8(ascii: "0") + UInt8(value % 10)
            value /= 10
        }
        buffer[digits + 1] = UInt8(ascii: "\r")
        buffer[digits + 2] = UInt8(ascii: "\n")
        return digits + 3
    }
}
