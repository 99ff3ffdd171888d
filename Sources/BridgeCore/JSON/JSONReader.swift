/// What a JSON value is, from its first byte.
public enum JSONValueKind: Sendable, Equatable {
    case string, number, object, array, `true`, `false`, null
}

/// One member of a JSON object, as byte ranges into the text it was read from.
public struct JSONMember: Sendable, Equatable {
    /// The key's bytes without the quotes (escapes left as written).
    public var key: Range<Int>
    /// The whole value: with the quotes for a string, with the brackets for a container.
    public var value: Range<Int>
    /// What the value is.
    public var kind: JSONValueKind

    /// The string's contents without the quotes (for a string value), else the value itself.
    public var unquotedValue: Range<Int> {
        kind == .string ? (value.lowerBound + 1)..<(value.upperBound - 1) : value
    }
}

/// Forward-only readers of JSON text over raw bytes that allocate nothing: the normalizer's
/// and the frame classifier's hot path (every message passes here once).
///
/// They validate structure only — strings (escapes are skipped, not decoded), nesting
/// (bounded at ``maximumDepth`` so a hostile frame cannot exhaust the stack) and delimiters;
/// numbers and literals are taken up to the next delimiter and checked by whoever reads them.
/// A reader that meets malformed text stops and sets `failed`.
public enum JSONReader {
    /// Deepest nesting accepted (Binance payloads nest three levels at most).
    public static let maximumDepth = 64

    /// Where a reader is in its container, and how it ended: what ``Object`` and ``Array``
    /// share (the opening bracket, separators, the closing bracket, trailing space).
    struct Cursor {
        let bytes: UnsafeRawBufferPointer
        var index: Int
        let end: Int
        private var first = true
        private var finished = false
        var failed = false

        init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>?, open: UInt8) {
            self.bytes = bytes
            let range = range ?? 0..<bytes.count
            index = range.lowerBound
            end = range.upperBound
            JSONReader.skipSpace(bytes, &index, end)
            if !JSONReader.take(open, bytes, &index, end) { failed = true }
        }

        /// Moves to the next element: true when one starts at ``index``; false at `close`
        /// (``failed`` when anything but space follows it) or on a missing separator.
        mutating func advance(close: UInt8) -> Bool {
            guard !failed, !finished else { return false }
            JSONReader.skipSpace(bytes, &index, end)
            if JSONReader.take(close, bytes, &index, end) {
                finished = true
                JSONReader.skipSpace(bytes, &index, end)
                if index != end { failed = true }
                return false
            }
            if !first {
                guard JSONReader.take(UInt8(ascii: ","), bytes, &index, end) else {
                    failed = true
                    return false
                }
                JSONReader.skipSpace(bytes, &index, end)
            }
            first = false
            return true
        }
    }

    /// Reads the members of the object at `range` (leading and trailing space allowed).
    public struct Object {
        private var cursor: Cursor
        private let deferringContainers: Bool
        /// Start of a container returned but not yet skipped (deferred mode).
        private var pending: Int?
        /// Set when the text is not a well-formed object; iteration has stopped.
        public var failed: Bool { cursor.failed }

        /// A reader of the object spanning `range` of `bytes` (all of it when nil).
        ///
        /// With `deferringContainers`, a nested object or array is returned with an empty
        /// `value` at its start and not read: the caller either parses it itself and calls
        /// ``resume(after:)`` with its end, or calls ``skipPending()`` for its range (a flat
        /// scan of strings and bracket depth; the structure inside is left to whoever reads
        /// it). ``next()`` skips a container left pending. For readers that parse every nested
        /// value they use (the normalizer), so those bytes are walked once.
        public init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>? = nil, deferringContainers: Bool = false) {
            self.deferringContainers = deferringContainers
            cursor = Cursor(bytes, range: range, open: UInt8(ascii: "{"))
        }

        /// The next member, or nil at the closing brace (check ``failed`` then).
        public mutating func next() -> JSONMember? {
            if pending != nil, skipPending() == nil { return nil }
            guard cursor.advance(close: UInt8(ascii: "}")) else { return nil }
            let bytes = cursor.bytes
            let end = cursor.end
            let keyStart = cursor.index
            guard JSONReader.skipString(bytes, &cursor.index, end) else { return fail() }
            let key = (keyStart + 1)..<(cursor.index - 1)
            JSONReader.skipSpace(bytes, &cursor.index, end)
            guard JSONReader.take(UInt8(ascii: ":"), bytes, &cursor.index, end) else { return fail() }
            JSONReader.skipSpace(bytes, &cursor.index, end)
            let valueStart = cursor.index
            if deferringContainers, valueStart < end, bytes[valueStart] == UInt8(ascii: "[") || bytes[valueStart] == UInt8(ascii: "{") {
                pending = valueStart
                return JSONMember(key: key, value: valueStart..<valueStart, kind: bytes[valueStart] == UInt8(ascii: "{") ? .object : .array)
            }
            guard let kind = JSONReader.skipValue(bytes, &cursor.index, end, depth: 1) else { return fail() }
            return JSONMember(key: key, value: valueStart..<cursor.index, kind: kind)
        }

        /// Skips the container just returned (deferred mode); its full range, or nil (and
        /// ``failed``) when it does not close.
        public mutating func skipPending() -> Range<Int>? {
            guard let start = pending else { return nil }
            pending = nil
            cursor.index = start
            guard JSONReader.skipContainer(cursor.bytes, &cursor.index, cursor.end) != nil else {
                cursor.failed = true
                return nil
            }
            return start..<cursor.index
        }

        /// Continues after the container just returned, which the caller read up to `end`.
        public mutating func resume(after end: Int) {
            pending = nil
            cursor.index = end
        }

        private mutating func fail() -> JSONMember? {
            cursor.failed = true
            return nil
        }
    }

    /// Reads the elements of the array at `range`.
    public struct Array {
        private var cursor: Cursor
        /// Set when the text is not a well-formed array; iteration has stopped.
        public var failed: Bool { cursor.failed }

        /// A reader of the array spanning `range` of `bytes` (all of it when nil).
        public init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>? = nil) {
            cursor = Cursor(bytes, range: range, open: UInt8(ascii: "["))
        }

        /// The next element (its range and kind), or nil at the closing bracket.
        public mutating func next() -> (range: Range<Int>, kind: JSONValueKind)? {
            guard cursor.advance(close: UInt8(ascii: "]")) else { return nil }
            let start = cursor.index
            guard let kind = JSONReader.skipValue(cursor.bytes, &cursor.index, cursor.end, depth: 1) else {
                cursor.failed = true
                return nil
            }
            return (start..<cursor.index, kind)
        }
    }

    /// The kind of the single value spanning `range` (space around it allowed), or nil when
    /// the text is not exactly one well-formed value.
    public static func validate(_ bytes: UnsafeRawBufferPointer, range: Range<Int>? = nil) -> JSONValueKind? {
        let range = range ?? 0..<bytes.count
        var index = range.lowerBound
        skipSpace(bytes, &index, range.upperBound)
        guard let kind = skipValue(bytes, &index, range.upperBound, depth: 0) else { return nil }
        skipSpace(bytes, &index, range.upperBound)
        return index == range.upperBound ? kind : nil
    }

    // MARK: Scanning

    /// JSON whitespace. One comparison for the common case (any byte above the space).
    @inline(__always)
    static func isSpace(_ byte: UInt8) -> Bool {
        byte <= 0x20 && (byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D)
    }

    @inline(__always)
    static func skipSpace(_ bytes: UnsafeRawBufferPointer, _ index: inout Int, _ end: Int) {
        while index < end, isSpace(bytes[index]) { index += 1 }
    }

    @inline(__always)
    static func take(_ byte: UInt8, _ bytes: UnsafeRawBufferPointer, _ index: inout Int, _ end: Int) -> Bool {
        guard index < end, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// Skips a string starting at its opening quote; false if it does not close before `end`
    /// or holds a raw control character (which JSON forbids).
    static func skipString(_ bytes: UnsafeRawBufferPointer, _ index: inout Int, _ end: Int) -> Bool {
        guard take(UInt8(ascii: "\""), bytes, &index, end) else { return false }
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return true
            }
            if byte == UInt8(ascii: "\\") {
                index += 2
            } else if byte < 0x20 {
                return false
            } else {
                index += 1
            }
        }
        return false
    }

    /// Skips one value; returns its kind, or nil when malformed or nested too deep.
    static func skipValue(_ bytes: UnsafeRawBufferPointer, _ index: inout Int, _ end: Int, depth: Int) -> JSONValueKind? {
        guard depth <= maximumDepth, index < end else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "\""):
            return skipString(bytes, &index, end) ? .string : nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let isObject = bytes[index] == UInt8(ascii: "{")
            let close = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
            index += 1
            skipSpace(bytes, &index, end)
            if take(close, bytes, &index, end) { return isObject ? .object : .array }
            while true {
                skipSpace(bytes, &index, end)
                if isObject {
                    guard skipString(bytes, &index, end) else { return nil }
                    skipSpace(bytes, &index, end)
                    guard take(UInt8(ascii: ":"), bytes, &index, end) else { return nil }
                    skipSpace(bytes, &index, end)
                }
                guard skipValue(bytes, &index, end, depth: depth + 1) != nil else { return nil }
                skipSpace(bytes, &index, end)
                if take(UInt8(ascii: ","), bytes, &index, end) { continue }
                guard take(close, bytes, &index, end) else { return nil }
                return isObject ? .object : .array
            }
        default:
            // Numbers and literals: up to the next delimiter.
            let start = index
            while index < end, !endsScalar(bytes[index]) { index += 1 }
            guard index > start else { return nil }
            let first = bytes[start]
            let length = index - start
            if first == UInt8(ascii: "t") { return length == 4 && matches(bytes, start, "true") ? .true : nil }
            if first == UInt8(ascii: "f") { return length == 5 && matches(bytes, start, "false") ? .false : nil }
            if first == UInt8(ascii: "n") { return length == 4 && matches(bytes, start, "null") ? .null : nil }
            return first == UInt8(ascii: "-") || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) ? .number : nil
        }
    }

    /// Skips the object or array at `index` by a flat scan: strings (with escapes) are
    /// skipped whole, brackets counted; the structure inside is not checked. Nil when it does
    /// not close before `end`.
    static func skipContainer(_ bytes: UnsafeRawBufferPointer, _ index: inout Int, _ end: Int) -> JSONValueKind? {
        let kind: JSONValueKind = bytes[index] == UInt8(ascii: "{") ? .object : .array
        var depth = 0
        var position = index
        while position < end {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                guard skipString(bytes, &position, end) else { return nil }
                continue
            } else if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
                depth += 1
            } else if byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
                depth -= 1
                if depth == 0 {
                    index = position + 1
                    return kind
                }
            }
            position += 1
        }
        return nil
    }

    @inline(__always)
    static func endsScalar(_ byte: UInt8) -> Bool {
        isSpace(byte) || byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: ":")
    }

    private static func matches(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ literal: StaticString) -> Bool {
        var offset = 0
        return literal.withUTF8Buffer { text in
            for byte in text {
                guard bytes[start + offset] == byte else { return false }
                offset += 1
            }
            return true
        }
    }
}

// MARK: Keys

/// A JSON key of up to four bytes packed into an integer, so that the normalizer matches
/// Binance's one- to three-letter keys with integer comparisons instead of string building.
public struct JSONKey: Hashable, Sendable {
    /// The packed bytes (little-endian order); longer keys map to ``tooLong``.
    public let code: UInt32

    /// Every key longer than four bytes (none that the normalizer reads).
    @inline(__always) public static var tooLong: JSONKey { JSONKey(code: .max) }

    private init(code: UInt32) {
        self.code = code
    }

    /// The key spelled `text` (at most four ASCII bytes).
    @inline(__always)
    public init(_ text: StaticString) {
        precondition(text.utf8CodeUnitCount <= 4, "a packed key holds at most four bytes")
        var code: UInt32 = 0
        text.withUTF8Buffer { bytes in
            for (offset, byte) in bytes.enumerated() { code |= UInt32(byte) << (8 * offset) }
        }
        self.code = code
    }

    /// The key at `range` of `bytes` (a member's ``JSONMember/key``).
    @inline(__always)
    public init(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {
        guard range.count <= 4 else {
            self = .tooLong
            return
        }
        var code: UInt32 = 0
        var shift: UInt32 = 0
        for index in range {
            code |= UInt32(bytes[index]) << shift
            shift += 8
        }
        self.code = code
    }
}
