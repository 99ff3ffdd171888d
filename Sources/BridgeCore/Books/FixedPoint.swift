/// Decimal text ⇄ fixed-point integers at a given number of decimals: how order books hold
/// prices and quantities (exact, comparable with one integer compare, no allocation).
///
/// `"67000.10"` at 2 decimals is `6_700_010`; at 4 decimals it is `670_001_000`. A value with
/// more significant decimals than the scale, or too large for an `Int64` at that scale, does
/// not parse: the caller treats the frame as malformed rather than round it.
public enum FixedPoint {
    /// The most decimals a scale may have (10¹⁸ still fits an `Int64`).
    public static let maximumDecimals = 18

    /// The value of the unsigned decimal in `bytes[range]` at `decimals` decimals, and the
    /// number of decimals it was written with, trailing zeros included (to write it back the
    /// same way when no instrument is known); nil when it is not a plain non-negative decimal, or does not fit.
    @inline(__always)
    public static func parse(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, decimals: Int) -> (value: Int64, written: Int)? {
        var index = range.lowerBound
        let end = range.upperBound
        guard index < end else { return nil }
        var value: UInt64 = 0
        var integerDigits = 0
        while index < end {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { break }
            // 18 integer digits cannot overflow UInt64 before the scale is applied.
            guard integerDigits < 18 else { return nil }
            value = value &* 10 &+ UInt64(digit)
            integerDigits += 1
            index += 1
        }
        guard integerDigits > 0 else { return nil }
        var fraction = 0
        if index < end {
            guard bytes[index] == UInt8(ascii: ".") else { return nil }
            index += 1
            guard index < end else { return nil }
            while index < end {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                fraction += 1
                if fraction <= decimals {
                    let (product, overflow) = value.multipliedReportingOverflow(by: 10)
                    guard !overflow else { return nil }
                    value = product &+ UInt64(digit)
                } else if digit != 0 {
                    return nil  // more precision than the scale holds: never round a price
                }
                index += 1
            }
        }
        // Pad the fraction to the scale.
        var padding = decimals - min(fraction, decimals)
        while padding > 0 {
            let (product, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            value = product
            padding -= 1
        }
        guard value <= UInt64(Int64.max) else { return nil }
        return (Int64(value), fraction)
    }

    /// `value` (at `scale` decimals) as text with exactly `decimals` decimals (`decimals` ≤
    /// `scale`; the dropped digits must be zero, which holds when `decimals` is at least the
    /// written precision). Appends the ASCII bytes to `output`.
    public static func write(_ value: Int64, scale: Int, decimals: Int, into output: inout [UInt8]) {
        precondition(value >= 0 && decimals <= scale)
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: 19 digits and a point
        withUnsafeMutableBytes(of: &digits) { buffer in
            var magnitude = UInt64(value)
            for _ in 0..<(scale - decimals) { magnitude /= 10 }
            var index = buffer.count
            var written = 0
            repeat {
                if written == decimals, decimals > 0 {
                    index -= 1
                    buffer[index] = UInt8(ascii: ".")
                }
                index -= 1
                buffer[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                written += 1
            } while magnitude > 0 || written <= decimals
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[index...]))
        }
    }

    /// `value` at `scale` decimals, written with `decimals` decimals, as a string.
    public static func text(_ value: Int64, scale: Int, decimals: Int) -> String {
        var bytes: [UInt8] = []
        write(value, scale: scale, decimals: decimals, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
