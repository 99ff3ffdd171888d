/// Finds the byte ranges of a JSON object's top-level values without decoding them (a
/// convenience over ``JSONReader/Object`` that names the keys).
///
/// Used where bytes must be kept exactly (a replayed payload, a frame's `data`) and where
/// Foundation's JSON APIs would be too slow or would re-encode. Validates structure only:
/// strings, nesting (bounded at 64 levels) and delimiters; numbers and literals are taken up
/// to the next delimiter.
public struct JSONFieldScanner {
    private let bytes: UnsafeRawBufferPointer

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// (key, value range) of each top-level member, or nil if the text is not one object.
    public mutating func topLevelFields() -> [(String, Range<Int>)]? {
        var fields: [(String, Range<Int>)] = []
        var reader = JSONReader.Object(bytes)
        while let member = reader.next() {
            let quoted = UnsafeRawBufferPointer(rebasing: bytes[(member.key.lowerBound - 1)..<(member.key.upperBound + 1)])
            guard let key = Self.plainString(quoted) else { return nil }
            fields.append((key, member.value))
        }
        return reader.failed ? nil : fields
    }

    /// The contents of a JSON string without escapes (stream names, markets), else nil.
    public static func plainString(_ value: UnsafeRawBufferPointer) -> String? {
        guard value.count >= 2, value.first == UInt8(ascii: "\""), value.last == UInt8(ascii: "\"") else { return nil }
        let inner = UnsafeRawBufferPointer(rebasing: value[1..<(value.count - 1)])
        guard !inner.contains(UInt8(ascii: "\\")), !inner.contains(UInt8(ascii: "\"")) else { return nil }
        return String(decoding: inner, as: UTF8.self)
    }
}
