/// The fixed-point scales a book holds its levels at: the instrument's decimals when the
/// instrument is known, else ``fallback``.
public struct BookScale: Sendable, Equatable, Hashable {
    /// Price decimals.
    public var price: Int
    /// Quantity decimals.
    public var quantity: Int
    /// Whether these are the instrument's own precisions (entries are then written at them);
    /// otherwise levels are written with the decimals Binance used.
    public var isInstrumentPrecision: Bool
    /// The instrument's tick in price units (0: unknown).
    public var tick: Int64

    public init(price: Int, quantity: Int, isInstrumentPrecision: Bool, tick: Int64 = 0) {
        self.price = price
        self.quantity = quantity
        self.isInstrumentPrecision = isInstrumentPrecision
        self.tick = tick
    }

    /// 8 decimals each: every Binance futures tick and step size has at most 8, and 10¹⁰ of
    /// price still fits an `Int64` at that scale.
    public static let fallback = BookScale(price: 8, quantity: 8, isInstrumentPrecision: false)

    /// The instrument's precision, or the fallback.
    public init(_ precision: InstrumentPrecision?) {
        if let precision {
            self.init(price: precision.priceDecimals, quantity: precision.quantityDecimals, isInstrumentPrecision: true, tick: precision.priceTick)
        } else {
            self = .fallback
        }
    }
}

/// Why a depth message could not be read into fixed point.
public struct DepthMessageError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// The decimals Binance wrote levels with (the most significant decimals seen), for writing
/// a book back out when the instrument's precision is not known.
public struct WrittenDecimals: Sendable, Equatable {
    public var price = 0
    public var quantity = 0
    public init() {}

    public mutating func merge(_ other: WrittenDecimals) {
        price = max(price, other.price)
        quantity = max(quantity, other.quantity)
    }
}

/// One diff-depth event (`depthUpdate`) read into fixed point: update ids, times, levels.
public struct DepthDiff: Sendable, Equatable {
    /// `U`.
    public var firstUpdateId: Int64 = 0
    /// `u`.
    public var finalUpdateId: Int64 = 0
    /// `pu`.
    public var previousFinalUpdateId: Int64 = 0
    /// `E`.
    public var eventTimeMilliseconds: Int64 = 0
    /// `T`, when sent.
    public var transactionTimeMilliseconds: Int64?
    public var bids: [BookLevel] = []
    public var asks: [BookLevel] = []
    public var written = WrittenDecimals()

    public init() {}

    @inline(__always) private static var firstKey: JSONKey { JSONKey("U") }
    @inline(__always) private static var finalKey: JSONKey { JSONKey("u") }
    @inline(__always) private static var previousKey: JSONKey { JSONKey("pu") }
    @inline(__always) private static var eventTimeKey: JSONKey { JSONKey("E") }
    @inline(__always) private static var transactionTimeKey: JSONKey { JSONKey("T") }
    @inline(__always) private static var bidsKey: JSONKey { JSONKey("b") }
    @inline(__always) private static var asksKey: JSONKey { JSONKey("a") }

    /// Reads the `depthUpdate` of a frame (combined or raw framing) at `scale`.
    public static func parse(frame: UnsafeRawBufferPointer, scale: BookScale) throws(DepthMessageError) -> DepthDiff {
        let payload = BinanceFrame.dataPayload(frame) ?? 0..<frame.count
        var diff = DepthDiff()
        var seen = (first: false, final: false, previous: false, bids: false, asks: false)
        // Level arrays are read once, by `levels` (deferred: the reader does not scan them).
        var reader = JSONReader.Object(frame, range: payload, deferringContainers: true)
        diff.bids.reserveCapacity(32)
        diff.asks.reserveCapacity(32)
        while let member = reader.next() {
            switch JSONKey(frame, member.key) {
            case firstKey:
                diff.firstUpdateId = try integer(frame, member, "U")
                seen.first = true
            case finalKey:
                diff.finalUpdateId = try integer(frame, member, "u")
                seen.final = true
            case previousKey:
                diff.previousFinalUpdateId = try integer(frame, member, "pu")
                seen.previous = true
            case eventTimeKey: diff.eventTimeMilliseconds = try integer(frame, member, "E")
            case transactionTimeKey: diff.transactionTimeMilliseconds = try integer(frame, member, "T")
            case bidsKey:
                reader.resume(after: try levels(frame, member.value.lowerBound, payload.upperBound, scale, into: &diff.bids, &diff.written))
                seen.bids = true
            case asksKey:
                reader.resume(after: try levels(frame, member.value.lowerBound, payload.upperBound, scale, into: &diff.asks, &diff.written))
                seen.asks = true
            default: break
            }
        }
        if reader.failed { throw DepthMessageError("malformed or truncated JSON") }
        guard seen.first, seen.final, seen.previous else { throw DepthMessageError("a depth update needs U, u and pu") }
        guard seen.bids, seen.asks else { throw DepthMessageError("a depth update needs b and a") }
        guard diff.firstUpdateId <= diff.finalUpdateId else {
            throw DepthMessageError("U \(diff.firstUpdateId) is after u \(diff.finalUpdateId)")
        }
        return diff
    }

    static func integer(_ bytes: UnsafeRawBufferPointer, _ member: JSONMember, _ name: String) throws(DepthMessageError) -> Int64 {
        guard member.kind == .number, let value = parseInteger(bytes, member.value) else {
            throw DepthMessageError("\(name) is not an integer")
        }
        return value
    }

    static func parseInteger(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int64? {
        guard !range.isEmpty, range.count <= 18 else { return nil }
        var value: Int64 = 0
        for index in range {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value * 10 + Int64(digit)
        }
        return value
    }

    /// Reads `[["price","qty"],…]` starting at `start` (its `[`) at `scale`, appending to
    /// `levels`; returns the index after the closing `]`. One pass over the bytes, no
    /// generic JSON walk: this is the book's hot path.
    static func levels(
        _ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ scale: BookScale,
        into levels: inout [BookLevel], _ written: inout WrittenDecimals
    ) throws(DepthMessageError) -> Int {
        var index = start
        guard JSONReader.take(UInt8(ascii: "["), bytes, &index, end) else { throw DepthMessageError("levels are not an array") }
        JSONReader.skipSpace(bytes, &index, end)
        if JSONReader.take(UInt8(ascii: "]"), bytes, &index, end) { return index }
        while true {
            guard JSONReader.take(UInt8(ascii: "["), bytes, &index, end) else { throw DepthMessageError("a level is not an array") }
            JSONReader.skipSpace(bytes, &index, end)
            let price = try quoted(bytes, &index, end)
            JSONReader.skipSpace(bytes, &index, end)
            guard JSONReader.take(UInt8(ascii: ","), bytes, &index, end) else { throw DepthMessageError("a level is not [\"price\",\"qty\"]") }
            JSONReader.skipSpace(bytes, &index, end)
            let quantity = try quoted(bytes, &index, end)
            JSONReader.skipSpace(bytes, &index, end)
            guard JSONReader.take(UInt8(ascii: "]"), bytes, &index, end) else { throw DepthMessageError("a level is not [\"price\",\"qty\"]") }
            guard let p = FixedPoint.parse(bytes, price, decimals: scale.price) else {
                throw DepthMessageError("price \(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[price]), as: UTF8.self)) is not a decimal with at most \(scale.price) decimals")
            }
            guard let q = FixedPoint.parse(bytes, quantity, decimals: scale.quantity) else {
                throw DepthMessageError("quantity \(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[quantity]), as: UTF8.self)) is not a decimal with at most \(scale.quantity) decimals")
            }
            written.price = max(written.price, p.written)
            written.quantity = max(written.quantity, q.written)
            levels.append(BookLevel(price: p.value, quantity: q.value))
            JSONReader.skipSpace(bytes, &index, end)
            if JSONReader.take(UInt8(ascii: "]"), bytes, &index, end) { return index }
            guard JSONReader.take(UInt8(ascii: ","), bytes, &index, end) else { throw DepthMessageError("malformed level array") }
            JSONReader.skipSpace(bytes, &index, end)
        }
    }

    /// The contents of a plain (escape-free) JSON string at `index`, which moves past it.
    @inline(__always)
    private static func quoted(_ bytes: UnsafeRawBufferPointer, _ index: inout Int, _ end: Int) throws(DepthMessageError) -> Range<Int> {
        guard JSONReader.take(UInt8(ascii: "\""), bytes, &index, end) else { throw DepthMessageError("a level is not [\"price\",\"qty\"]") }
        let start = index
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return start..<(index - 1)
            }
            // Decimals have no escapes; anything else is not a price.
            guard byte != UInt8(ascii: "\\"), byte >= 0x20 else { throw DepthMessageError("malformed level string") }
            index += 1
        }
        throw DepthMessageError("malformed or truncated JSON")
    }
}

/// A REST depth snapshot (`GET /fapi/v1/depth`, `/dapi/v1/depth`) read into fixed point.
public struct DepthSnapshot: Sendable, Equatable {
    public var lastUpdateId: Int64 = 0
    /// `E` (the message time), when sent.
    public var eventTimeMilliseconds: Int64?
    /// `T` (the matching engine's time), when sent.
    public var transactionTimeMilliseconds: Int64?
    public var bids: [BookLevel] = []
    public var asks: [BookLevel] = []
    public var written = WrittenDecimals()

    public init() {}

    public init(lastUpdateId: Int64, bids: [BookLevel], asks: [BookLevel]) {
        self.lastUpdateId = lastUpdateId
        self.bids = bids
        self.asks = asks
    }

    /// Reads the response body at `scale`.
    public static func parse(_ body: UnsafeRawBufferPointer, scale: BookScale) throws(DepthMessageError) -> DepthSnapshot {
        var snapshot = DepthSnapshot()
        var seen = (id: false, bids: false, asks: false)
        var reader = JSONReader.Object(body, deferringContainers: true)
        while let member = reader.next() {
            let key = UnsafeRawBufferPointer(rebasing: body[member.key])
            if key.elementsEqual("lastUpdateId".utf8) {
                snapshot.lastUpdateId = try DepthDiff.integer(body, member, "lastUpdateId")
                seen.id = true
            } else if key.elementsEqual("E".utf8) {
                snapshot.eventTimeMilliseconds = try DepthDiff.integer(body, member, "E")
            } else if key.elementsEqual("T".utf8) {
                snapshot.transactionTimeMilliseconds = try DepthDiff.integer(body, member, "T")
            } else if key.elementsEqual("bids".utf8) {
                reader.resume(after: try DepthDiff.levels(body, member.value.lowerBound, body.count, scale, into: &snapshot.bids, &snapshot.written))
                seen.bids = true
            } else if key.elementsEqual("asks".utf8) {
                reader.resume(after: try DepthDiff.levels(body, member.value.lowerBound, body.count, scale, into: &snapshot.asks, &snapshot.written))
                seen.asks = true
            }
        }
        if reader.failed { throw DepthMessageError("malformed or truncated JSON") }
        guard seen.id, seen.bids, seen.asks else { throw DepthMessageError("a depth snapshot needs lastUpdateId, bids and asks") }
        return snapshot
    }
}
