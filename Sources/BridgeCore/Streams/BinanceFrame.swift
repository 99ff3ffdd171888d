#if canImport(Glibc)
import Glibc
#endif

/// What one text frame from a Binance market-data connection is, found from its bytes
/// without decoding it (the pool's hot path: every frame passes here).
///
/// - Combined data `{"stream":"btcusdt@aggTrade","data":{…}}` (the pool always uses
///   `/stream` connections, so every data frame names its stream);
/// - a reply to a request, matched by `id`: `{"result":null,"id":7}`,
///   `{"result":["a@b"],"id":8}`, `{"error":{"code":2,"msg":"…"},"id":9}` (`id` may be null
///   when Binance could not read it);
/// - anything else (a raw payload without a stream, a truncated or malformed frame).
public enum BinanceFrame: Equatable, Sendable {
    /// A data frame: the stream name and the byte range of `data` within the frame.
    case data(stream: String, payload: Range<Int>)
    /// `{"result":…,"id":N}`: the byte range of `result` (e.g. `null`, or a list).
    case result(id: UInt64?, value: Range<Int>)
    /// `{"error":{"code":C,"msg":M},"id":N}`.
    case error(id: UInt64?, code: Int, message: String)
    /// Not one of the above; `reason` says why, for the error event.
    case unrecognized(reason: String)

    /// Classifies `bytes`. The common case (a combined data frame in Binance's key order) is
    /// checked by prefix, with no scan of the payload beyond its closing brace.
    public static func classify(_ bytes: UnsafeRawBufferPointer) -> BinanceFrame {
        if let fast = fastData(bytes) { return fast }
        var scanner = JSONFieldScanner(bytes)
        guard let fields = scanner.topLevelFields() else {
            return .unrecognized(reason: bytes.isEmpty ? "empty frame" : "not a JSON object (malformed or truncated)")
        }
        var stream: String?
        var data: Range<Int>?
        var id: UInt64?
        var idPresent = false
        var result: Range<Int>?
        var error: Range<Int>?
        for (key, range) in fields {
            let value = UnsafeRawBufferPointer(rebasing: bytes[range])
            switch key {
            case "stream": stream = JSONFieldScanner.plainString(value)
            case "data": data = range
            case "id":
                idPresent = true
                id = UInt64(String(decoding: value, as: UTF8.self))
            case "result": result = range
            case "error": error = range
            default: break
            }
        }
        if let stream, let data { return .data(stream: stream, payload: data) }
        if idPresent || result != nil || error != nil {
            if let error { return errorReply(id: id, UnsafeRawBufferPointer(rebasing: bytes[error])) }
            if let result { return .result(id: id, value: result) }
        }
        return .unrecognized(reason: "a JSON object without stream/data or result/error")
    }

    // StaticStrings, compared with memcmp: no lazy global (`swift_once`) and no generic
    // sequence comparison on every frame.
    private static let streamPrefix: StaticString = #"{"stream":""#
    private static let dataKey: StaticString = #","data":"#

    /// Whether `bytes` holds `literal` at `offset` (the caller checked the length).
    @inline(__always)
    private static func holds(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString, at offset: Int) -> Bool {
        memcmp(bytes.baseAddress! + offset, literal.utf8Start, literal.utf8CodeUnitCount) == 0
    }

    /// The byte range of `data` in a combined frame, without building the stream name (the
    /// normalizer already knows the stream): the fast path when the frame is in Binance's key
    /// order, else the full scan. Nil when the frame is not a combined data frame.
    public static func dataPayload(_ bytes: UnsafeRawBufferPointer) -> Range<Int>? {
        if let range = fastDataRange(bytes) { return range.payload }
        if case .data(_, let payload) = classify(bytes) { return payload }
        return nil
    }

    /// `{"stream":"<name>","data":<payload>}` exactly, else nil (then the general scan decides).
    private static func fastData(_ bytes: UnsafeRawBufferPointer) -> BinanceFrame? {
        guard let range = fastDataRange(bytes) else { return nil }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range.name]), as: UTF8.self)
        return .data(stream: name, payload: range.payload)
    }

    /// The ranges of the name and the payload of a combined frame in Binance's key order.
    private static func fastDataRange(_ bytes: UnsafeRawBufferPointer) -> (name: Range<Int>, payload: Range<Int>)? {
        let prefix = streamPrefix.utf8CodeUnitCount
        guard bytes.count > prefix + dataKey.utf8CodeUnitCount + 2, holds(bytes, streamPrefix, at: 0) else { return nil }
        var end = prefix
        while end < bytes.count, bytes[end] != UInt8(ascii: "\"") {
            if bytes[end] == UInt8(ascii: "\\") { return nil }
            end += 1
        }
        let payloadStart = end + 1 + dataKey.utf8CodeUnitCount
        guard payloadStart < bytes.count, holds(bytes, dataKey, at: end + 1) else { return nil }
        var last = bytes.count - 1
        while last > payloadStart, bytes[last] == 0x20 || bytes[last] == 0x0A || bytes[last] == 0x0D { last -= 1 }
        guard bytes[last] == UInt8(ascii: "}") else { return nil }
        // The payload must itself end in } or ] (an object, or an array for `!…@arr`): a frame
        // cut short is left to the full scan, which rejects it.
        let payloadEnd = last
        var tail = payloadEnd - 1
        while tail > payloadStart, bytes[tail] == 0x20 { tail -= 1 }
        guard tail >= payloadStart, bytes[tail] == UInt8(ascii: "}") || bytes[tail] == UInt8(ascii: "]") else { return nil }
        return (prefix..<end, payloadStart..<payloadEnd)
    }

    private static func errorReply(id: UInt64?, _ object: UnsafeRawBufferPointer) -> BinanceFrame {
        var scanner = JSONFieldScanner(object)
        var code = -1
        var message = ""
        for (key, range) in scanner.topLevelFields() ?? [] {
            let value = UnsafeRawBufferPointer(rebasing: object[range])
            switch key {
            case "code": code = Int(String(decoding: value, as: UTF8.self)) ?? -1
            case "msg":
                // Messages can contain escapes; keep them readable without a full JSON decoder.
                let text = String(decoding: value, as: UTF8.self)
                message = text.count >= 2 ? String(text.dropFirst().dropLast()).replacingEscapes() : text
            default: break
            }
        }
        return .error(id: id, code: code, message: message)
    }
}

extension String {
    /// `\"`, `\\`, `\/`, `\n`, `\t`, `\r` unescaped; other escapes kept as written.
    fileprivate func replacingEscapes() -> String {
        guard contains("\\") else { return self }
        var result = ""
        var escaping = false
        for character in self {
            if escaping {
                switch character {
                case "n": result.append("\n")
                case "t": result.append("\t")
                case "r": result.append("\r")
                case "\"", "\\", "/": result.append(character)
                default: result.append("\\"); result.append(character)
                }
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                result.append(character)
            }
        }
        return result
    }
}
