/// Why a frame could not be normalized; the frame is skipped, counted and reported.
public struct NormalizationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stream the frame arrived on.
    public var stream: String
    /// What is wrong, for the `error` event and the debug log.
    public var reason: String

    public init(stream: String, reason: String) {
        self.stream = stream
        self.reason = reason
    }

    public var description: String { "cannot normalize a frame of \(stream): \(reason)" }
}

/// Turns Binance futures frames into the contract's entries (Redis contract §2): pure, no
/// I/O, and on the hot path — one pass over the frame's bytes with ``JSONReader``, no
/// Foundation JSON, one heap allocation per entry (its field buffer).
///
/// Each stream type has an ``EntryLayout``; a type without one becomes a `raw` entry carrying
/// the payload. Array payloads (`!markPrice@arr`, `!ticker@arr`, COIN-M `<pair>@markPrice`)
/// become one entry per element. Frames may be combined (`{"stream":…,"data":…}`) or raw.
public struct MarketDataNormalizer: Sendable {
    /// The precisions decimals are formatted at; symbols not in it pass through as written.
    public var instruments: InstrumentPrecisions

    public init(instruments: InstrumentPrecisions = InstrumentPrecisions()) {
        self.instruments = instruments
    }

    /// Appends the entries of one frame to `entries`.
    /// - Parameters:
    ///   - frame: the frame's bytes, combined or raw.
    ///   - stream: the parsed stream the frame belongs to (parsed once per subscription).
    ///   - receiveTimeMicroseconds: when the bridge read the frame.
    /// - Throws: ``NormalizationError`` if the frame is malformed; nothing is appended then.
    public func normalize(
        frame: UnsafeRawBufferPointer,
        stream: BinanceStreamName,
        receiveTimeMicroseconds: Int64,
        into entries: inout [StreamEntry]
    ) throws(NormalizationError) {
        // Combined framing, or else the frame is the payload itself (raw `/ws` framing).
        let payload = BinanceFrame.dataPayload(frame) ?? 0..<frame.count
        let firstNew = entries.count
        do {
            try normalize(payload: frame, payload, stream: stream, receiveTimeMicroseconds: receiveTimeMicroseconds, into: &entries)
        } catch {
            entries.removeSubrange(firstNew...)
            throw NormalizationError(stream: stream.rawValue, reason: error.reason)
        }
    }

    /// A failure inside one payload, before the stream is attached.
    struct Failure: Error {
        let reason: String
    }

    private func normalize(
        payload bytes: UnsafeRawBufferPointer,
        _ range: Range<Int>,
        stream: BinanceStreamName,
        receiveTimeMicroseconds: Int64,
        into entries: inout [StreamEntry]
    ) throws(Failure) {
        var start = range.lowerBound
        JSONReader.skipSpace(bytes, &start, range.upperBound)
        guard start < range.upperBound else { throw Failure(reason: "empty payload") }
        let layout = EntryLayout.of(stream.type)
        if bytes[start] == UInt8(ascii: "[") {
            var elements = JSONReader.Array(bytes, range: range)
            while let element = elements.next() {
                guard element.kind == .object else { throw Failure(reason: "an array element is not an object") }
                try entries.append(entry(bytes, element.range, layout, stream, receiveTimeMicroseconds))
            }
            if elements.failed { throw Failure(reason: "malformed or truncated JSON array") }
        } else {
            try entries.append(entry(bytes, range, layout, stream, receiveTimeMicroseconds))
        }
    }

    // MARK: One object → one entry

    // Computed, not stored: a stored static is a lazy global, checked (`swift_once`) on
    // every use; these fold to constants.
    @inline(__always) private static var eventTimeKey: JSONKey { JSONKey("E") }
    @inline(__always) private static var universeKey: JSONKey { JSONKey("st") }
    @inline(__always) private static var symbolKey: JSONKey { JSONKey("s") }

    private func entry(
        _ bytes: UnsafeRawBufferPointer,
        _ range: Range<Int>,
        _ layout: EntryLayout?,
        _ stream: BinanceStreamName,
        _ receiveTime: Int64
    ) throws(Failure) -> StreamEntry {
        guard let layout else { return try rawEntry(bytes, range, stream, receiveTime) }
        // Depth levels formatted during the scan land in a scratch of 2 KiB on the stack
        // (Linux puts `withUnsafeTemporaryAllocation` above 1 KiB on the heap), enough for
        // 20+20 levels; levels that may not fit are formatted after the scan instead. Other
        // types need none (and do not pay for zeroing it).
        guard layout.formatsLevels else {
            return try entry(bytes, range, layout, stream, receiveTime, scratch: UnsafeMutableRawBufferPointer(start: nil, count: 0))
        }
        var stackScratch = LevelScratch()
        return try withUnsafeMutableBytes(of: &stackScratch) { scratch throws(Failure) -> StreamEntry in
            try entry(bytes, range, layout, stream, receiveTime, scratch: scratch)
        }
    }

    private func entry(
        _ bytes: UnsafeRawBufferPointer,
        _ range: Range<Int>,
        _ layout: EntryLayout,
        _ stream: BinanceStreamName,
        _ receiveTime: Int64,
        scratch: UnsafeMutableRawBufferPointer
    ) throws(Failure) -> StreamEntry {
        let outerCount = layout.outer.count
        let innerCount = layout.inner.count
        // What was found for each layout field, on the stack (no allocation).
        return try withUnsafeTemporaryAllocation(of: FieldSlot.self, capacity: outerCount + innerCount + 1) { found throws(Failure) -> StreamEntry in
            found.initialize(repeating: FieldSlot())
            var eventTime: JSONMember?
            var universe: JSONMember?
            var symbol: JSONMember?
            var inner: JSONMember?
            // Nested values are read by their writers (levels strictly, JSON fields validated),
            // so the reader defers them: depth levels are formatted as they are scanned (when
            // the symbol came first, as Binance sends it) into `scratch`, else skipped flat
            // here and formatted below.
            var object = JSONReader.Object(bytes, range: range, deferringContainers: true)
            var early: InstrumentPrecision?
            // What the early lookup was for, so the final one is skipped when nothing changed.
            var earlyLookup: (symbol: Range<Int>, market: BinanceMarket)?
            var scratchUsed = 0
            while var member = object.next() {
                let key = JSONKey(bytes, member.key)
                var fieldIndex: Int?
                for index in 0..<outerCount where layout.outer[index].key == key {
                    fieldIndex = index
                    break
                }
                if member.value.isEmpty {
                    // A deferred container.
                    if let fieldIndex, case .levels = layout.outer[fieldIndex].format, let early, member.kind == .array,
                       Self.levelsBound(range.upperBound - member.value.lowerBound, max(early.priceDecimals, early.quantityDecimals))
                        <= scratch.count - scratchUsed
                    {
                        let output = scratch.baseAddress! + scratchUsed
                        guard let (count, end) = Self.levels(bytes.baseAddress!, member.value.lowerBound, range.upperBound, output, early.priceDecimals, early.quantityDecimals) else {
                            throw Failure(reason: "malformed depth levels (expected [[\"price\",\"qty\"],…])")
                        }
                        object.resume(after: end)
                        member.value = member.value.lowerBound..<end
                        found[fieldIndex].formatted = (scratchUsed..<(scratchUsed + count), early)
                        scratchUsed += count
                    } else {
                        guard let full = object.skipPending() else { break }
                        member.value = full
                    }
                }
                if key == Self.eventTimeKey {
                    eventTime = member
                } else if key == Self.universeKey {
                    universe = member
                } else if key == layout.innerKey {
                    inner = member
                }
                if case .outer(let symbolKey) = layout.symbol, key == symbolKey {
                    symbol = member
                    if layout.formatsLevels, member.kind == .string {
                        let market = (try? rowMarket(bytes, universe, stream.market)) ?? stream.market
                        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[member.unquotedValue]), as: UTF8.self)
                        early = instruments.precision(of: text, in: market)
                        earlyLookup = (member.unquotedValue, market)
                    }
                }
                if let fieldIndex { found[fieldIndex].member = member }
            }
            if object.failed { throw Failure(reason: "malformed or truncated JSON object") }
            if layout.innerKey != nil {
                guard let inner, inner.kind == .object else { throw Failure(reason: "missing nested object") }
                var nested = JSONReader.Object(bytes, range: inner.value)
                while let member = nested.next() {
                    let key = JSONKey(bytes, member.key)
                    if case .inner(let symbolKey) = layout.symbol, key == symbolKey { symbol = member }
                    for index in 0..<innerCount where layout.inner[index].key == key {
                        found[outerCount + index].member = member
                        break
                    }
                }
                if nested.failed { throw Failure(reason: "malformed nested object") }
            }
            guard let eventTime, eventTime.kind == .number, Self.isInteger(bytes, eventTime.value) else {
                throw Failure(reason: "missing or invalid event time E")
            }
            guard let symbol, symbol.kind == .string, symbol.value.count > 2 else { throw Failure(reason: "missing symbol") }
            let market = try rowMarket(bytes, universe, stream.market)
            let precision: InstrumentPrecision?
            if let earlyLookup, earlyLookup.symbol == symbol.unquotedValue, earlyLookup.market == market {
                precision = early
            } else {
                let symbolText = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[symbol.unquotedValue]), as: UTF8.self)
                precision = instruments.precision(of: symbolText, in: market)
            }

            var entry = StreamEntry(stream: stream.rawValue, market: stream.market, type: layout.type, timeMicroseconds: receiveTime, reservingCapacity: Self.capacity(range.count))
            entry.appendField("market", market.rawValue)
            entry.appendField("symbol", bytes: UnsafeRawBufferPointer(rebasing: bytes[symbol.unquotedValue]))
            entry.appendField("stream", stream.rawValue)
            entry.appendField("event_time_ms", bytes: UnsafeRawBufferPointer(rebasing: bytes[eventTime.value]))
            entry.appendField("recv_time_us", receiveTime)
            for index in 0..<outerCount {
                // Levels formatted during the scan at the precision that applies after all.
                if let (range, formattedAt) = found[index].formatted, formattedAt == precision {
                    entry.appendField(layout.outer[index].name, bytes: UnsafeRawBufferPointer(rebasing: scratch[range]))
                    continue
                }
                try Self.write(layout.outer[index], found[index].member, bytes, precision, into: &entry)
            }
            for (name, value) in layout.constants {
                entry.appendField(name, value.description)
            }
            for index in 0..<innerCount {
                try Self.write(layout.inner[index], found[outerCount + index].member, bytes, precision, into: &entry)
            }
            return entry
        }
    }

    /// What the scan found for one layout field: its member, and for depth levels formatted
    /// during the scan, where they are in the scratch and at which precision.
    private struct FieldSlot {
        var member: JSONMember?
        var formatted: (Range<Int>, InstrumentPrecision)?
    }

    /// A stream type without a layout: its payload, with the common fields that can be found.
    private func rawEntry(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ stream: BinanceStreamName, _ receiveTime: Int64) throws(Failure) -> StreamEntry {
        var eventTime: JSONMember?
        var symbol: JSONMember?
        var universe: JSONMember?
        var object = JSONReader.Object(bytes, range: range)
        while let member = object.next() {
            let key = JSONKey(bytes, member.key)
            if key == Self.eventTimeKey, member.kind == .number, Self.isInteger(bytes, member.value) { eventTime = member }
            if key == Self.symbolKey, member.kind == .string, member.value.count > 2 { symbol = member }
            if key == Self.universeKey { universe = member }
        }
        if object.failed { throw Failure(reason: "malformed or truncated JSON object") }
        var entry = StreamEntry(stream: stream.rawValue, market: stream.market, type: .raw, timeMicroseconds: receiveTime, reservingCapacity: Self.capacity(range.count))
        entry.appendField("market", try rowMarket(bytes, universe, stream.market).rawValue)
        if let symbol { entry.appendField("symbol", bytes: UnsafeRawBufferPointer(rebasing: bytes[symbol.unquotedValue])) }
        entry.appendField("stream", stream.rawValue)
        if let eventTime { entry.appendField("event_time_ms", bytes: UnsafeRawBufferPointer(rebasing: bytes[eventTime.value])) }
        entry.appendField("recv_time_us", receiveTime)
        entry.appendField("payload", bytes: UnsafeRawBufferPointer(rebasing: bytes[range]))
        return entry
    }

    /// The market a row belongs to: `st` 1 = USD-M, 2 = COIN-M (all-market streams since the
    /// 2026-06-30 merge), else the stream's own.
    private func rowMarket(_ bytes: UnsafeRawBufferPointer, _ universe: JSONMember?, _ market: BinanceMarket) throws(Failure) -> BinanceMarket {
        guard let universe else { return market }
        guard universe.value.count == 1 else { throw Failure(reason: "invalid st (expected 1 or 2)") }
        switch bytes[universe.value.lowerBound] {
        case UInt8(ascii: "1"): return .usdm
        case UInt8(ascii: "2"): return .coinm
        default: throw Failure(reason: "invalid st (expected 1 or 2)")
        }
    }

    // MARK: Values

    private static func write(
        _ field: EntryLayout.Field,
        _ member: JSONMember?,
        _ bytes: UnsafeRawBufferPointer,
        _ precision: InstrumentPrecision?,
        into entry: inout StreamEntry
    ) throws(Failure) {
        guard let member else {
            if field.required { throw Failure(reason: "missing field \(field.name) (\(Self.keyText(field.key)))") }
            return
        }
        func invalid(_ expected: String) -> Failure {
            Failure(reason: "field \(keyText(field.key)) is not \(expected)")
        }
        switch field.format {
        case .integer, .nonZeroInteger:
            guard member.kind == .number, isInteger(bytes, member.value) else { throw invalid("an integer") }
            if case .nonZeroInteger = field.format, member.value.count == 1, bytes[member.value.lowerBound] == UInt8(ascii: "0") { return }
            entry.appendField(field.name, bytes: UnsafeRawBufferPointer(rebasing: bytes[member.value]))
        case .price, .quantity, .decimal:
            guard member.kind == .string else { throw invalid("a decimal string") }
            let text = member.unquotedValue
            if text.isEmpty { return }  // Binance's "" for "not applicable": an absent field
            guard let decimal = DecimalText(bytes, text) else { throw invalid("a decimal string") }
            let decimals: Int? =
                switch field.format {
                case .price: precision?.priceDecimals
                case .quantity: precision?.quantityDecimals
                default: nil
                }
            entry.appendField(field.name, decimal: decimal, in: bytes, precision: decimals)
        case .text:
            guard member.kind == .string else { throw invalid("a string") }
            let text = member.unquotedValue
            if text.isEmpty { return }
            entry.appendField(field.name, bytes: UnsafeRawBufferPointer(rebasing: bytes[text]))
        case .makerSide, .flag:
            // `m` true means the buyer was the maker: the aggressor sold.
            let isMakerSide = if case .makerSide = field.format { true } else { false }
            switch member.kind {
            case .true: entry.appendField(field.name, isMakerSide ? "sell" : "1")
            case .false: entry.appendField(field.name, isMakerSide ? "buy" : "0")
            default: throw invalid("a boolean")
            }
        case .orderSide:
            let text = member.unquotedValue
            guard member.kind == .string, text.count == 3 || text.count == 4 else { throw invalid("BUY or SELL") }
            if text.count == 3, bytes[text.lowerBound] == UInt8(ascii: "B") {
                entry.appendField(field.name, "buy")
            } else if text.count == 4, bytes[text.lowerBound] == UInt8(ascii: "S") {
                entry.appendField(field.name, "sell")
            } else {
                throw invalid("BUY or SELL")
            }
        case .levels:
            guard member.kind == .array else { throw invalid("an array of levels") }
            try writeLevels(field.name, bytes, member.value, precision, into: &entry)
        case .json:
            guard JSONReader.validate(bytes, range: member.value) != nil else { throw invalid("well-formed JSON") }
            entry.appendField(field.name, bytes: UnsafeRawBufferPointer(rebasing: bytes[member.value]))
        }
    }

    /// `[["price","qty"],…]` re-written with each decimal at the instrument's precision.
    ///
    /// The hot spot of depth streams (40 decimals a frame): one pass over the levels with raw
    /// pointers, each decimal copied and re-formatted as it is scanned (``copyDecimal``),
    /// into a scratch buffer (on the stack for frames of ordinary size), then one copy into
    /// the entry.
    private static func writeLevels(
        _ name: StaticString,
        _ bytes: UnsafeRawBufferPointer,
        _ range: Range<Int>,
        _ precision: InstrumentPrecision?,
        into entry: inout StreamEntry
    ) throws(Failure) {
        // -1: keep the decimal as written.
        let priceDecimals = precision?.priceDecimals ?? -1
        let quantityDecimals = precision?.quantityDecimals ?? -1
        // Each decimal grows by at most its padding (and a "."); a level holds two decimals
        // in at least 9 bytes (`["0","0"]`), so this bounds the output.
        let bound = levelsBound(range.count, max(priceDecimals, quantityDecimals, 0))
        try withUnsafeTemporaryAllocation(byteCount: bound, alignment: 1) { scratch throws(Failure) in
            guard let (count, end) = levels(bytes.baseAddress!, range.lowerBound, range.upperBound, scratch.baseAddress!, priceDecimals, quantityDecimals),
                  end == range.upperBound
            else {
                throw Failure(reason: "malformed depth levels (expected [[\"price\",\"qty\"],…])")
            }
            entry.appendField(name, bytes: UnsafeRawBufferPointer(start: scratch.baseAddress!, count: count))
        }
    }

    /// 2 KiB of stack for depth levels formatted during the scan.
    private struct LevelScratch {
        typealias Bytes64 = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
        typealias Bytes512 = (Bytes64, Bytes64, Bytes64, Bytes64, Bytes64, Bytes64, Bytes64, Bytes64)
        @inline(__always) static var zero64: Bytes64 { (0, 0, 0, 0, 0, 0, 0, 0) }
        @inline(__always) static var zero512: Bytes512 { (zero64, zero64, zero64, zero64, zero64, zero64, zero64, zero64) }
        var storage: (Bytes512, Bytes512, Bytes512, Bytes512) = (zero512, zero512, zero512, zero512)
    }

    /// Room for the levels of `count` bytes of text re-formatted at up to `decimals`
    /// decimals: each decimal grows by at most its padding (and a "."), and a level holds two
    /// decimals in at least 9 bytes (`["0","0"]`).
    @inline(__always)
    static func levelsBound(_ count: Int, _ decimals: Int) -> Int {
        count + (count / 9 + 1) * 2 * (1 + decimals) + 2
    }

    /// Copies the levels starting at `start` (and ending before `end`) of `input` to
    /// `output` re-formatted; returns the bytes written and where the array ended, or nil when
    /// the text is not an array of two-string arrays of decimals.
    @inline(__always)
    private static func levels(
        _ input: UnsafeRawPointer, _ start: Int, _ end: Int, _ output: UnsafeMutableRawPointer, _ priceDecimals: Int, _ quantityDecimals: Int
    ) -> (count: Int, end: Int)? {
        var index = start
        var count = 0
        @inline(__always) func at(_ position: Int) -> UInt8 { input.load(fromByteOffset: position, as: UInt8.self) }
        @inline(__always) func skipSpace() {
            while index < end, JSONReader.isSpace(at(index)) { index += 1 }
        }
        @inline(__always) func put(_ byte: UInt8) {
            output.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
            count += 1
        }
        @inline(__always) func take(_ byte: UInt8) -> Bool {
            guard index < end, at(index) == byte else { return false }
            index += 1
            return true
        }
        /// Skips whitespace unless `byte` is next: Binance sends none, so the common case is
        /// one comparison.
        @inline(__always) func spaceBefore(_ byte: UInt8) {
            if index >= end || at(index) != byte { skipSpace() }
        }
        /// Takes `byte` (after any whitespace) from the input and writes it to the output.
        @inline(__always) func pass(_ byte: UInt8) -> Bool {
            spaceBefore(byte)
            guard take(byte) else { return false }
            put(byte)
            return true
        }
        let quote = UInt8(ascii: "\"")
        guard pass(UInt8(ascii: "[")) else { return nil }
        if !pass(UInt8(ascii: "]")) {
            while true {
                guard pass(UInt8(ascii: "[")) else { return nil }
                spaceBefore(quote)
                guard copyDecimal(input, &index, end, output, &count, priceDecimals) else { return nil }
                guard pass(UInt8(ascii: ",")) else { return nil }
                spaceBefore(quote)
                guard copyDecimal(input, &index, end, output, &count, quantityDecimals) else { return nil }
                guard pass(UInt8(ascii: "]")) else { return nil }
                if pass(UInt8(ascii: ",")) { continue }
                guard pass(UInt8(ascii: "]")) else { return nil }
                break
            }
        }
        skipSpace()
        return (count, index)
    }

    /// Copies the quoted decimal at `index` (`"-?[0-9]+(\.[0-9]*)?"`) to `output`, formatted
    /// at `decimals` (-1: as written) as ``DecimalText`` formats it, in one pass: each byte is
    /// checked and stored as it is read, the fraction's last non-zero digit noted, and at the
    /// closing quote the fraction is cut back to `max(decimals, significant)` digits (only
    /// zeros are ever cut) or padded with zeros.
    @inline(__always)
    private static func copyDecimal(
        _ input: UnsafeRawPointer, _ index: inout Int, _ end: Int, _ output: UnsafeMutableRawPointer, _ count: inout Int, _ decimals: Int
    ) -> Bool {
        @inline(__always) func at(_ position: Int) -> UInt8 { input.load(fromByteOffset: position, as: UInt8.self) }
        guard index < end, at(index) == UInt8(ascii: "\"") else { return false }
        var position = index + 1
        var out = count
        output.storeBytes(of: UInt8(ascii: "\""), toByteOffset: out, as: UInt8.self)
        out += 1
        if position < end, at(position) == UInt8(ascii: "-") {
            output.storeBytes(of: UInt8(ascii: "-"), toByteOffset: out, as: UInt8.self)
            out += 1
            position += 1
        }
        /// Copies a run of digits; returns how many, and the 1-based position of the last
        /// non-zero one (0: none).
        // Wrapping arithmetic in this loop: positions stay below `end`, so nothing can
        // overflow, and the checks cost a branch each per digit.
        @inline(__always) func digits() -> (count: Int, lastNonZero: Int) {
            let start = position
            var lastNonZero = 0
            while position < end {
                let byte = at(position)
                guard byte &- UInt8(ascii: "0") < 10 else { break }
                output.storeBytes(of: byte, toByteOffset: out, as: UInt8.self)
                out &+= 1
                position &+= 1
                lastNonZero = byte != UInt8(ascii: "0") ? position &- start : lastNonZero
            }
            return (position &- start, lastNonZero)
        }
        guard digits().count > 0, position < end else { return false }
        var fractionDigits = -1  // -1: no point
        var significant = 0
        if at(position) == UInt8(ascii: ".") {
            output.storeBytes(of: UInt8(ascii: "."), toByteOffset: out, as: UInt8.self)
            out += 1
            position += 1
            (fractionDigits, significant) = digits()
        }
        guard position < end, at(position) == UInt8(ascii: "\"") else { return false }
        if decimals >= 0 {
            let kept = max(decimals, significant)
            if fractionDigits < 0 {
                if kept > 0 {
                    output.storeBytes(of: UInt8(ascii: "."), toByteOffset: out, as: UInt8.self)
                    out += 1
                    fractionDigits = 0
                }
            } else if kept < fractionDigits || kept == 0 {
                out -= fractionDigits - kept
                fractionDigits = kept
                if kept == 0 {
                    out -= 1  // "5.00" and "5." → "5"
                    fractionDigits = -1
                }
            }
            while fractionDigits >= 0, fractionDigits < kept {
                output.storeBytes(of: UInt8(ascii: "0"), toByteOffset: out, as: UInt8.self)
                out += 1
                fractionDigits += 1
            }
        }
        output.storeBytes(of: UInt8(ascii: "\""), toByteOffset: out, as: UInt8.self)
        count = out + 1
        index = position + 1
        return true
    }

    /// Room for an entry made from a payload of `count` bytes, so that writing it never
    /// regrows the buffer (one allocation per entry): field names and RESP framing roughly
    /// double Binance's one-letter keys, plus the common fields.
    @inline(__always)
    static func capacity(_ count: Int) -> Int { count * 2 + 384 }

    /// `-?[0-9]+`: Binance's ids and times (no fraction, no exponent).
    static func isInteger(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        var index = range.lowerBound
        if index < range.upperBound, bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < range.upperBound, range.count <= 20 else { return false }
        while index < range.upperBound {
            guard DecimalText.isDigit(bytes[index]) else { return false }
            index += 1
        }
        return true
    }

    private static func keyText(_ key: JSONKey) -> String {
        var code = key.code
        var text = ""
        while code != 0 {
            text.append(Character(Unicode.Scalar(UInt8(code & 0xFF))))
            code >>= 8
        }
        return text
    }
}
