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

    public init(price: Int, quantity: Int, isInstrumentPrecision: Bool) {
        self.price = price
        self.quantity = quantity
        self.isInstrumentPrecision = isInstrumentPrecision
    }

    /// 8 decimals each: every Binance futures tick and step size has at most 8, and 10¹⁰ of
    /// price still fits an `Int64` at that scale.
    public static let fallback = BookScale(price: 8, quantity: 8, isInstrumentPrecision: false)

    /// The instrument's precision, or the fallback.
    public init(_ precision: InstrumentPrecision?) {
        if let precision {
            self.init(price: precision.priceDecimals, quantity: precision.quantityDecimals, isInstrumentPrecision: true)
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
        var reader = JSONReader.Object(frame, range: payload)
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
                try levels(frame, member, scale, into: &diff.bids, &diff.written)
                seen.bids = true
            case asksKey:
                try levels(frame, member, scale, into: &diff.asks, &diff.written)
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

    /// Reads `[["price","qty"],…]` at `scale`, appending to `levels`.
    static func levels(
        _ bytes: UnsafeRawBufferPointer, _ member: JSONMember, _ scale: BookScale,
        into levels: inout [BookLevel], _ written: inout WrittenDecimals
    ) throws(DepthMessageError) {
        guard member.kind == .array else { throw DepthMessageError("levels are not an array") }
        var outer = JSONReader.Array(bytes, range: member.value)
        while let element = outer.next() {
            guard element.kind == .array else { throw DepthMessageError("a level is not an array") }
            var pair = JSONReader.Array(bytes, range: element.range)
            guard let price = pair.next(), price.kind == .string, let quantity = pair.next(), quantity.kind == .string else {
                throw DepthMessageError("a level is not [\"price\",\"qty\"]")
            }
            // Binance has sent no third element; tolerate one rather than drop the book.
            while pair.next() != nil {}
            if pair.failed { throw DepthMessageError("malformed level") }
            let priceText = (price.range.lowerBound + 1)..<(price.range.upperBound - 1)
            let quantityText = (quantity.range.lowerBound + 1)..<(quantity.range.upperBound - 1)
            guard let p = FixedPoint.parse(bytes, priceText, decimals: scale.price) else {
                throw DepthMessageError("price \(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[priceText]), as: UTF8.self)) is not a decimal with at most \(scale.price) decimals")
            }
            guard let q = FixedPoint.parse(bytes, quantityText, decimals: scale.quantity) else {
                throw DepthMessageError("quantity \(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[quantityText]), as: UTF8.self)) is not a decimal with at most \(scale.quantity) decimals")
            }
            written.price = max(written.price, p.written)
            written.quantity = max(written.quantity, q.written)
            levels.append(BookLevel(price: p.value, quantity: q.value))
        }
        if outer.failed { throw DepthMessageError("malformed level array") }
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
        var reader = JSONReader.Object(body)
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
                try DepthDiff.levels(body, member, scale, into: &snapshot.bids, &snapshot.written)
                seen.bids = true
            } else if key.elementsEqual("asks".utf8) {
                try DepthDiff.levels(body, member, scale, into: &snapshot.asks, &snapshot.written)
                seen.asks = true
            }
        }
        if reader.failed { throw DepthMessageError("malformed or truncated JSON") }
        guard seen.id, seen.bids, seen.asks else { throw DepthMessageError("a depth snapshot needs lastUpdateId, bids and asks") }
        return snapshot
    }
}
