import CHiredis

/// One RESP2 reply, binary-safe: bulk strings are bytes, not `String`s.
public enum RedisReply: Sendable, Hashable {
    /// `+OK`-style status line.
    case status(String)
    /// `-ERR …`-style error line, as the server sent it. Single commands turn it into a thrown
    /// ``RedisClientError``; pipelines keep it in place so every command has its own result.
    case error(String)
    /// `:N`
    case integer(Int64)
    /// `$N` bulk string, exactly the bytes the server sent (may be empty, may be binary).
    case bulkString([UInt8])
    /// `*N` array (nested replies).
    case array([RedisReply])
    /// `$-1` / `*-1`: no value.
    case null

    /// The text of a status or bulk string reply (bulk strings decoded as UTF-8, lossily).
    public var string: String? {
        switch self {
        case .status(let text): text
        case .bulkString(let bytes): String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }

    /// The bytes of a bulk string reply.
    public var bytes: [UInt8]? {
        if case .bulkString(let bytes) = self { return bytes }
        return nil
    }

    /// The value of an integer reply.
    public var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The elements of an array reply.
    public var array: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// A stream entry as `XRANGE`, `XREVRANGE` and `XREAD` return it (`[id, [field, value, …]]`):
    /// its id and its field-value pairs in order; nil for any other shape.
    public var streamEntry: (id: String, fields: [(String, String)])? {
        guard let pair = array, pair.count == 2, let id = pair[0].string, let values = pair[1].array else { return nil }
        return (id, stride(from: 0, to: values.count - 1, by: 2).map { (values[$0].string ?? "", values[$0 + 1].string ?? "") })
    }

    /// The text of an error reply.
    public var errorMessage: String? {
        if case .error(let text) = self { return text }
        return nil
    }

    /// The server error this reply carries, if it is an error reply.
    public var serverError: RedisClientError? {
        if case .error(let text) = self { return RedisClientError(serverReply: text) }
        return nil
    }

    /// Returns `self`, or throws the server error it carries.
    public func throwingServerError() throws(RedisClientError) -> RedisReply {
        if let serverError { throw serverError }
        return self
    }
}

extension RedisReply {
    /// Copies a hiredis reply tree into Swift values. The caller still owns and frees `reply`.
    init(hiredis reply: UnsafePointer<redisReply>) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            self = .bulkString(Self.bytes(r.str, r.len))
        case REDIS_REPLY_STATUS:
            self = .status(String(decoding: Self.bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            self = .error(String(decoding: Self.bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(r.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(r.elements)
            for index in 0..<r.elements {
                if let element = r.element[index] {
                    elements.append(RedisReply(hiredis: element))
                } else {
                    elements.append(.null)
                }
            }
            self = .array(elements)
        default:
            self = .null
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> [UInt8] {
        guard let pointer, length > 0 else { return [] }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
    }
}

extension RedisReply {
    /// Parses RESP bytes with hiredis's reader into replies (for tests and diagnostics).
    static func parse(_ bytes: [UInt8]) throws(RedisClientError) -> [RedisReply] {
        guard let reader = redisReaderCreate() else {
            throw RedisClientError(code: .protocolError, message: "out of memory")
        }
        defer { redisReaderFree(reader) }
        let fed = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { redisReaderFeed(reader, $0.baseAddress, buffer.count) }
        }
        guard fed == REDIS_OK else { throw RedisClientError(code: .protocolError, message: "feed failed") }
        var replies: [RedisReply] = []
        while true {
            var raw: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
                let text = withUnsafeBytes(of: reader.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                throw RedisClientError(code: .protocolError, message: "Redis protocol error: \(text)")
            }
            guard let raw else { return replies }
            replies.append(RedisReply(hiredis: raw.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
    }
}
