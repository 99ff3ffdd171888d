/// A strict recursive-descent parser of RFC 8259 text into ``JSONValue``.
///
/// Why not `JSONDecoder`: decoding `JSONValue` through `Codable` probes each value's type by
/// trying and failing (bool, integer, double, string, array, then object), so every object or
/// array costs five thrown errors. That made a control-command flood and the instrument sync
/// slower than they need be, and under Swift Testing, which captures a backtrace at every
/// throw, a test reading a ground-truth log ran a thousand times slower than the bridge it
/// checks. This parser throws once, at the first error, and reads each byte once.
///
/// Numbers: text without a fraction or exponent that fits `Int64` is `.integer`; any other
/// number is `.number` (a `Double`). Strings are decoded (escapes, surrogate pairs) and must be
/// valid UTF-8. Nesting is bounded at ``JSONReader/maximumDepth`` so hostile input cannot
/// exhaust the stack. Duplicate keys: the last one wins.
struct JSONValueParser {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0

    private init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> JSONValue {
        var parser = JSONValueParser(bytes)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.index == bytes.count else { throw parser.error("unexpected text after the value") }
        return value
    }

    private func error(_ what: String) -> JSONSyntaxError {
        JSONSyntaxError(detail: "\(what) at byte \(index)")
    }

    private var atEnd: Bool { index >= bytes.count }
    private var byte: UInt8 { bytes[index] }

    private mutating func skipSpace() {
        while !atEnd, JSONReader.isSpace(byte) { index += 1 }
    }

    private mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard !atEnd else { throw error("unexpected end of text") }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character '\(Unicode.Scalar(byte))'")
        }
    }

    private mutating func literal(_ text: StaticString) throws(JSONSyntaxError) {
        let count = text.utf8CodeUnitCount
        guard bytes.count - index >= count,
              (0..<count).allSatisfy({ bytes[index + $0] == text.utf8Start[$0] }) else { throw error("invalid literal") }
        index += count
    }

    private mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= JSONReader.maximumDepth else { throw error("nested deeper than \(JSONReader.maximumDepth)") }
        index += 1
        var members: [String: JSONValue] = [:]
        skipSpace()
        if !atEnd, byte == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipSpace()
            guard !atEnd, byte == UInt8(ascii: "\"") else { throw error("expected a key") }
            let key = try string()
            skipSpace()
            guard !atEnd, byte == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipSpace()
            members[key] = try value(depth: depth)
            skipSpace()
            guard !atEnd else { throw error("unterminated object") }
            if byte == UInt8(ascii: ",") { index += 1; continue }
            guard byte == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
            index += 1
            return .object(members)
        }
    }

    private mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= JSONReader.maximumDepth else { throw error("nested deeper than \(JSONReader.maximumDepth)") }
        index += 1
        var elements: [JSONValue] = []
        skipSpace()
        if !atEnd, byte == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipSpace()
            elements.append(try value(depth: depth))
            skipSpace()
            guard !atEnd else { throw error("unterminated array") }
            if byte == UInt8(ascii: ",") { index += 1; continue }
            guard byte == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
            index += 1
            return .array(elements)
        }
    }

    private mutating func number() throws(JSONSyntaxError) -> JSONValue {
        let start = index
        var integral = true
        if byte == UInt8(ascii: "-") { index += 1 }
        guard !atEnd, isDigit(byte) else { throw error("invalid number") }
        if byte == UInt8(ascii: "0") {
            index += 1
            if !atEnd, isDigit(byte) { throw error("leading zero in a number") }
        } else {
            skipDigits()
        }
        if !atEnd, byte == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard !atEnd, isDigit(byte) else { throw error("expected a digit after '.'") }
            skipDigits()
        }
        if !atEnd, byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            integral = false
            index += 1
            if !atEnd, byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") { index += 1 }
            guard !atEnd, isDigit(byte) else { throw error("expected a digit in the exponent") }
            skipDigits()
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if integral, let value = Int64(text) { return .integer(value) }
        guard let value = Double(text), value.isFinite else { throw error("number out of range") }
        return .number(value)
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func skipDigits() {
        while !atEnd, isDigit(byte) { index += 1 }
    }

    private mutating func string() throws(JSONSyntaxError) -> String {
        index += 1
        let start = index
        // The common case, no escapes: one validated copy of the bytes.
        while !atEnd, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
            guard byte >= 0x20 else { throw error("control character in a string") }
            index += 1
        }
        guard !atEnd else { throw error("unterminated string") }
        var utf8 = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while byte != UInt8(ascii: "\"") {
            if byte == UInt8(ascii: "\\") {
                index += 1
                guard !atEnd else { throw error("unterminated string") }
                let escape = byte
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"): utf8.append(contentsOf: String(try unicodeEscape()).utf8)
                default: throw error("invalid escape")
                }
            } else {
                guard byte >= 0x20 else { throw error("control character in a string") }
                utf8.append(byte)
                index += 1
            }
            guard !atEnd else { throw error("unterminated string") }
        }
        index += 1
        guard let text = String(validating: utf8, as: UTF8.self) else { throw error("invalid UTF-8 in a string") }
        return text
    }

    /// The scalar of `XXXX` (after `\u`), joining a surrogate pair written as two escapes.
    private mutating func unicodeEscape() throws(JSONSyntaxError) -> Unicode.Scalar {
        let high = try hex4()
        if (0xDC00...0xDFFF).contains(high) { throw error("unpaired surrogate") }
        if (0xD800...0xDBFF).contains(high) {
            guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                throw error("unpaired surrogate")
            }
            index += 2
            let low = try hex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate") }
            return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!
        }
        return Unicode.Scalar(high)!
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard bytes.count - index >= 4 else { throw error("invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("invalid \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }
}
