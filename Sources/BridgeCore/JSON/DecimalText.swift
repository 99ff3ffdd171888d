/// A decimal number written as text (`"25000.10"`, `"-0.5"`, `"3"`), located in a buffer and
/// re-formatted at a fixed number of decimals by working on its digits alone: never through
/// `Double`, so `0.1` stays `0.1` and no value is ever rounded.
///
/// Formatting at precision `p` pads the fraction with zeros to `p` digits and drops zeros
/// beyond `p`. A value with more significant decimals than `p` keeps all of them (the
/// instrument cache may be out of date; exactness wins over uniform width), so formatting
/// never changes the number a consumer reads.
public struct DecimalText: Sendable, Equatable {
    /// Where the text starts (the sign or first digit).
    public let start: Int
    /// End of the integer digits (the `.` or the end).
    public let integerEnd: Int
    /// End of the fraction's significant digits (trailing zeros excluded).
    public let significantEnd: Int
    /// End of the text as written.
    public let end: Int

    /// Number of significant fraction digits.
    public var significantDecimals: Int { Swift.max(0, significantEnd - integerEnd - 1) }

    /// Parses `range` of `bytes`: `-?[0-9]+(\.[0-9]*)?`; nil for anything else (exponents,
    /// `NaN`, an empty string, spaces), which Binance never sends for a price or quantity.
    public init?(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {
        var index = range.lowerBound
        let end = range.upperBound
        guard index < end else { return nil }
        self.end = end
        start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        let digitsStart = index
        while index < end, Self.isDigit(bytes[index]) { index += 1 }
        guard index > digitsStart else { return nil }
        integerEnd = index
        guard index < end else {
            significantEnd = index
            return
        }
        guard bytes[index] == UInt8(ascii: ".") else { return nil }
        index += 1
        var lastNonZero = integerEnd
        while index < end {
            let byte = bytes[index]
            guard Self.isDigit(byte) else { return nil }
            if byte != UInt8(ascii: "0") { lastNonZero = index }
            index += 1
        }
        significantEnd = lastNonZero == integerEnd ? integerEnd : lastNonZero + 1
    }

    /// Length of the text formatted at `precision` decimals.
    @inline(__always)
    public func formattedCount(precision: Int) -> Int {
        let decimals = Swift.max(precision, significantDecimals)
        return (integerEnd - start) + (decimals > 0 ? 1 + decimals : 0)
    }

    /// Writes the text formatted at `precision` decimals to `destination`, which has room for
    /// ``formattedCount(precision:)`` bytes.
    @inline(__always)
    public func write(from bytes: UnsafeRawBufferPointer, precision: Int, to destination: UnsafeMutableRawPointer) {
        let integerCount = integerEnd - start
        destination.copyMemory(from: bytes.baseAddress! + start, byteCount: integerCount)
        let decimals = Swift.max(precision, significantDecimals)
        guard decimals > 0 else { return }
        destination.storeBytes(of: UInt8(ascii: "."), toByteOffset: integerCount, as: UInt8.self)
        let significant = significantDecimals
        if significant > 0 {
            (destination + integerCount + 1).copyMemory(from: bytes.baseAddress! + integerEnd + 1, byteCount: significant)
        }
        if decimals > significant {
            (destination + integerCount + 1 + significant).initializeMemory(as: UInt8.self, repeating: UInt8(ascii: "0"), count: decimals - significant)
        }
    }

    /// The number of decimals a tick or step size such as `"0.0010"` implies (3), or nil when
    /// the text is not a positive decimal.
    public static func decimals(of text: String) -> Int? {
        var text = text
        return text.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            guard let parsed = DecimalText(bytes, 0..<bytes.count), bytes.first != UInt8(ascii: "-") else { return nil }
            // A zero step ("0", "0.000") is not a usable precision either.
            guard bytes[parsed.start..<parsed.significantEnd].contains(where: { $0 != UInt8(ascii: "0") && $0 != UInt8(ascii: ".") }) else { return nil }
            return parsed.significantDecimals
        }
    }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}
