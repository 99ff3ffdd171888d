/// A batch of Redis commands, RESP-encoded into one contiguous buffer as they are appended.
///
/// Encoding in Swift (instead of building `argv` arrays for `redisAppendCommandArgv`) costs one
/// buffer that can be reused across batches (``removeAll()`` keeps its capacity): no
/// per-argument C strings, no per-command allocation. The connection writes the bytes as they
/// are and reads exactly ``count`` replies.
///
/// For callers that build commands field by field without intermediate arrays (the publisher),
/// use ``beginCommand(argumentCount:)`` followed by exactly that many `appendArgument` calls.
public struct RedisCommandBatch: Sendable {
    /// The encoded bytes; copy-on-write, written through raw pointers (see ``ByteStorage``).
    private var storage: ByteStorage
    /// How many commands the batch holds (and so how many replies it will get).
    public private(set) var count: Int

    /// An empty batch with room for `capacity` bytes.
    public init(reservingCapacity capacity: Int = 4096) {
        storage = ByteStorage(capacity: capacity)
        count = 0
    }

    /// A copy of the RESP bytes of every command appended so far (for tests and diagnostics;
    /// the connection reads them in place with ``withUnsafeBytes(_:)``).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// The number of encoded bytes.
    public var byteCount: Int { storage.count }

    /// Calls `body` with the encoded bytes, without copying them.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// A batch with a single command.
    public init(_ arguments: String...) {
        self.init(reservingCapacity: 64)
        append(arguments)
    }

    /// True when no command was appended.
    public var isEmpty: Bool { count == 0 }

    /// Empties the batch, keeping its buffer for reuse.
    public mutating func removeAll() {
        if isKnownUniquelyReferenced(&storage) {
            storage.count = 0
        } else {
            storage = ByteStorage(capacity: storage.capacity)
        }
        count = 0
    }

    // MARK: Whole commands

    /// Appends one command given as text arguments (`["SET", "k", "v"]`).
    public mutating func append(_ arguments: [String]) {
        precondition(!arguments.isEmpty, "a Redis command needs at least one argument")
        beginCommand(argumentCount: arguments.count)
        for argument in arguments { appendArgument(argument) }
    }

    /// Appends one command given as binary arguments.
    public mutating func append(binary arguments: [[UInt8]]) {
        precondition(!arguments.isEmpty, "a Redis command needs at least one argument")
        beginCommand(argumentCount: arguments.count)
        for argument in arguments { appendArgument(bytes: argument) }
    }

    /// Appends `XADD key [MAXLEN ~ maxlen] id field value …`.
    ///
    /// `maxlen` nil means no trimming; `approximate` (`~`) lets Redis trim whole macro-nodes,
    /// which is much cheaper than exact trimming and keeps the length within a node of `maxlen`.
    public mutating func appendXAdd(
        key: String,
        maxlen: Int?,
        approximate: Bool = true,
        id: String = "*",
        fields: [(String, String)]
    ) {
        precondition(!fields.isEmpty, "XADD needs at least one field")
        beginXAdd(key: key, maxlen: maxlen, approximate: approximate, id: id, fieldCount: fields.count)
        for (field, value) in fields {
            appendArgument(field)
            appendArgument(value)
        }
    }

    /// Starts an `XADD`; follow it with exactly `fieldCount` field/value argument pairs.
    public mutating func beginXAdd(key: String, maxlen: Int?, approximate: Bool = true, id: String = "*", fieldCount: Int) {
        let trimArguments = maxlen == nil ? 0 : (approximate ? 3 : 2)
        beginCommand(argumentCount: 3 + trimArguments + 2 * fieldCount)
        appendArgument("XADD")
        appendArgument(key)
        if let maxlen {
            appendArgument("MAXLEN")
            if approximate { appendArgument("~") }
            appendArgument(maxlen)
        }
        appendArgument(id)
    }

    // MARK: Streaming encoder

    /// Starts a command of `argumentCount` arguments (`*N\r\n`).
    public mutating func beginCommand(argumentCount: Int) {
        precondition(argumentCount > 0, "a Redis command needs at least one argument")
        appendHeader(marker: UInt8(ascii: "*"), length: argumentCount)
        count += 1
    }

    /// Appends one text argument (`$len\r\n…\r\n`).
    public mutating func appendArgument(_ argument: String) {
        var argument = argument
        argument.withUTF8 { appendArgument(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Appends one text argument from a substring.
    public mutating func appendArgument(_ argument: Substring) {
        var argument = argument
        argument.withUTF8 { appendArgument(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Appends one integer argument, formatted in decimal without allocating.
    public mutating func appendArgument(_ argument: Int) {
        let sign = argument < 0 ? 1 : 0
        let length = sign + Self.decimalDigitCount(UInt64(argument.magnitude))
        let destination = reserve(length + 25)
        let headerLength = Self.writeHeader(marker: UInt8(ascii: "$"), length: length, to: destination)
        let start = destination + headerLength
        if sign == 1 { start.storeBytes(of: UInt8(ascii: "-"), as: UInt8.self) }
        var value = UInt64(argument.magnitude)
        var index = length - 1
        repeat {
            start.storeBytes(of: UInt8(ascii: "0") + UInt8(value % 10), toByteOffset: index, as: UInt8.self)
            value /= 10
            index -= 1
        } while value > 0
        (start + length).storeBytes(of: Self.crlf, as: UInt16.self)
        storage.count += headerLength + length + 2
    }

    /// Appends one binary argument.
    public mutating func appendArgument(bytes argument: some Collection<UInt8>) {
        if let done: Void = argument.withContiguousStorageIfAvailable({ appendArgument(bytes: UnsafeRawBufferPointer($0)) }) {
            return done
        }
        appendArgument(bytes: Array(argument))
    }

    /// Appends arguments already framed as RESP bulk strings (`$<len>\r\n<bytes>\r\n` …),
    /// e.g. an entry's fields; the command they belong to was begun with
    /// ``beginCommand(argumentCount:)`` counting them.
    public mutating func appendEncoded(_ arguments: UnsafeRawBufferPointer) {
        guard !arguments.isEmpty else { return }
        let destination = reserve(arguments.count)
        destination.copyMemory(from: arguments.baseAddress!, byteCount: arguments.count)
        storage.count += arguments.count
    }

    /// Appends one binary argument from raw memory: `$<len>\r\n<bytes>\r\n`.
    ///
    /// The publisher's hot path: one capacity check, then the header, payload and trailer are
    /// written straight into the buffer.
    public mutating func appendArgument(bytes argument: UnsafeRawBufferPointer) {
        let length = argument.count
        let destination = reserve(length + 25)  // "$" + ≤ 20 digits + 2 × "\r\n"
        let headerLength = Self.writeHeader(marker: UInt8(ascii: "$"), length: length, to: destination)
        if length > 0 {
            (destination + headerLength).copyMemory(from: argument.baseAddress!, byteCount: length)
        }
        (destination + headerLength + length).storeBytes(of: Self.crlf, as: UInt16.self)
        storage.count += headerLength + length + 2
    }

    // MARK: Encoding helpers

    /// Makes room for `extra` bytes (unique storage, geometric growth); returns where to write.
    private mutating func reserve(_ extra: Int) -> UnsafeMutableRawPointer {
        if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy(minimumCapacity: storage.count + extra)
        } else if storage.count + extra > storage.capacity {
            storage.grow(minimumCapacity: storage.count + extra)
        }
        return storage.pointer + storage.count
    }

    /// Appends `*N\r\n` or `$N\r\n`.
    private mutating func appendHeader(marker: UInt8, length: Int) {
        let destination = reserve(23)
        storage.count += Self.writeHeader(marker: marker, length: length, to: destination)
    }

    /// Writes `marker`, `length` in decimal and CRLF at `destination`; returns the byte count.
    private static func writeHeader(marker: UInt8, length: Int, to destination: UnsafeMutableRawPointer) -> Int {
        let digits = decimalDigitCount(UInt64(length))
        destination.storeBytes(of: marker, as: UInt8.self)
        var value = UInt64(length)
        var index = digits
        repeat {
            destination.storeBytes(of: UInt8(ascii: "0") + UInt8(value % 10), toByteOffset: index, as: UInt8.self)
            value /= 10
            index -= 1
        } while value > 0
        destination.storeBytes(of: crlf, toByteOffset: digits + 1, as: UInt16.self)
        return digits + 3
    }

    /// "\r\n" as a 16-bit value whose in-memory bytes are 0x0D 0x0A on any byte order.
    private static let crlf = UInt16(littleEndian: 0x0A0D)

    private static func decimalDigitCount(_ value: UInt64) -> Int {
        var count = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            count += 1
        }
        return count
    }
}

/// The growable byte buffer behind ``RedisCommandBatch``.
///
/// `@unchecked Sendable` is safe because ``RedisCommandBatch`` is copy-on-write: it mutates
/// its storage only when `isKnownUniquelyReferenced` proves no other batch (and so no other
/// thread) can see it; a storage shared with the connection thread is only ever read.
final class ByteStorage: @unchecked Sendable {
    private(set) var pointer: UnsafeMutableRawPointer
    var count = 0
    private(set) var capacity: Int

    init(capacity: Int) {
        self.capacity = Swift.max(64, capacity)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit {
        pointer.deallocate()
    }

    /// Doubles (at least) the capacity, keeping the bytes.
    func grow(minimumCapacity: Int) {
        let newCapacity = Swift.max(minimumCapacity, capacity * 2)
        let newPointer = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newPointer.copyMemory(from: pointer, byteCount: count)
        pointer.deallocate()
        pointer = newPointer
        capacity = newCapacity
    }

    /// An independent copy with room for `minimumCapacity` bytes.
    func copy(minimumCapacity: Int) -> ByteStorage {
        let copy = ByteStorage(capacity: Swift.max(minimumCapacity, capacity))
        copy.pointer.copyMemory(from: pointer, byteCount: count)
        copy.count = count
        return copy
    }
}
