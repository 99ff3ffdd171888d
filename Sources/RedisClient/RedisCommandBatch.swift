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
    /// The RESP bytes of every command appended so far.
    public private(set) var bytes: [UInt8]
    /// How many commands the batch holds (and so how many replies it will get).
    public private(set) var count: Int

    /// An empty batch with room for `capacity` bytes.
    public init(reservingCapacity capacity: Int = 4096) {
        bytes = []
        bytes.reserveCapacity(capacity)
        count = 0
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
        bytes.removeAll(keepingCapacity: true)
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
        bytes.append(UInt8(ascii: "*"))
        appendDecimal(argumentCount)
        appendCRLF()
        count += 1
    }

    /// Appends one text argument (`$len\r\n…\r\n`).
    public mutating func appendArgument(_ argument: String) {
        var argument = argument
        argument.withUTF8 { appendArgument(bytes: $0) }
    }

    /// Appends one text argument from a substring.
    public mutating func appendArgument(_ argument: Substring) {
        var argument = argument
        argument.withUTF8 { appendArgument(bytes: $0) }
    }

    /// Appends one integer argument, formatted in decimal without allocating.
    public mutating func appendArgument(_ argument: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: enough for Int.min
        let length = withUnsafeMutableBytes(of: &digits) { buffer in
            Self.formatDecimal(argument, into: buffer)
        }
        withUnsafeBytes(of: &digits) { appendArgument(bytes: UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
    }

    /// Appends one binary argument.
    public mutating func appendArgument(bytes argument: some Collection<UInt8>) {
        bytes.append(UInt8(ascii: "$"))
        appendDecimal(argument.count)
        appendCRLF()
        bytes.append(contentsOf: argument)
        appendCRLF()
    }

    /// Appends one binary argument from raw memory.
    public mutating func appendArgument(bytes argument: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "$"))
        appendDecimal(argument.count)
        appendCRLF()
        bytes.append(contentsOf: argument)
        appendCRLF()
    }

    // MARK: Encoding helpers

    private mutating func appendCRLF() {
        bytes.append(13)
        bytes.append(10)
    }

    private mutating func appendDecimal(_ value: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let length = withUnsafeMutableBytes(of: &digits) { Self.formatDecimal(value, into: $0) }
        withUnsafeBytes(of: &digits) { bytes.append(contentsOf: $0[0..<length]) }
    }

    /// Writes `value` in decimal at the start of `buffer` (≥ 20 bytes); returns the length.
    private static func formatDecimal(_ value: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var magnitude = value.magnitude
        var reversed: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &reversed) { scratch in
            repeat {
                scratch[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
        }
        var length = 0
        if value < 0 {
            buffer[0] = UInt8(ascii: "-")
            length = 1
        }
        withUnsafeBytes(of: &reversed) { scratch in
            for index in stride(from: count - 1, through: 0, by: -1) {
                buffer[length] = scratch[index]
                length += 1
            }
        }
        return length
    }
}
