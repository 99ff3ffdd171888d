/// Finds the byte ranges of a JSON object's top-level values without decoding them.
///
/// Used where bytes must be kept exactly (a replayed payload, a frame's `data`) and where
/// Foundation's JSON APIs would be too slow or would re-encode. Validates structure only:
/// strings, nesting (bounded at 64 levels) and delimiters; numbers and literals are taken up
/// to the next delimiter.
public struct JSONFieldScanner {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// (key, value range) of each top-level member, or nil if the text is not one object.
    public mutating func topLevelFields() -> [(String, Range<Int>)]? {
        var fields: [(String, Range<Int>)] = []
        skipSpace()
        guard take(UInt8(ascii: "{")) else { return nil }
        skipSpace()
        if take(UInt8(ascii: "}")) { return trailingSpaceOnly() ? fields : nil }
        while true {
            skipSpace()
            let keyStart = index
            guard skipString() else { return nil }
            guard let key = Self.plainString(UnsafeRawBufferPointer(rebasing: bytes[keyStart..<index])) else { return nil }
            skipSpace()
            guard take(UInt8(ascii: ":")) else { return nil }
            skipSpace()
            let valueStart = index
            guard skipValue(depth: 0) else { return nil }
            fields.append((key, valueStart..<index))
            skipSpace()
            if take(UInt8(ascii: ",")) { continue }
            guard take(UInt8(ascii: "}")) else { return nil }
            return trailingSpaceOnly() ? fields : nil
        }
    }

    /// The contents of a JSON string without escapes (stream names, markets), else nil.
    public static func plainString(_ value: UnsafeRawBufferPointer) -> String? {
        guard value.count >= 2, value.first == UInt8(ascii: "\""), value.last == UInt8(ascii: "\"") else { return nil }
        let inner = UnsafeRawBufferPointer(rebasing: value[1..<(value.count - 1)])
        guard !inner.contains(UInt8(ascii: "\\")), !inner.contains(UInt8(ascii: "\"")) else { return nil }
        return String(decoding: inner, as: UTF8.self)
    }

    private mutating func trailingSpaceOnly() -> Bool {
        skipSpace()
        return index == bytes.count
    }

    private mutating func skipSpace() {
        while index < bytes.count, Self.isSpace(bytes[index]) { index += 1 }
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func skipString() -> Bool {
        guard take(UInt8(ascii: "\"")) else { return false }
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""):
                index += 1
                return true
            default: index += 1
            }
        }
        return false
    }

    /// Skips one value; nesting is bounded so a hostile line cannot exhaust the stack.
    private mutating func skipValue(depth: Int) -> Bool {
        guard depth < 64, index < bytes.count else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""): return skipString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = bytes[index] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let isObject = close == UInt8(ascii: "}")
            index += 1
            skipSpace()
            if take(close) { return true }
            while true {
                skipSpace()
                if isObject {
                    guard skipString() else { return false }
                    skipSpace()
                    guard take(UInt8(ascii: ":")) else { return false }
                    skipSpace()
                }
                guard skipValue(depth: depth + 1) else { return false }
                skipSpace()
                if take(UInt8(ascii: ",")) { continue }
                return take(close)
            }
        default:
            // Numbers and literals: up to the next delimiter.
            let start = index
            while index < bytes.count, !Self.endsScalar(bytes[index]) { index += 1 }
            return index > start
        }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private static func endsScalar(_ byte: UInt8) -> Bool {
        isSpace(byte) || byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]")
    }
}
