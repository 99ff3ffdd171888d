/// A minimal JSON writer for the simulator's payloads: appends to one `String`, no Foundation,
/// no intermediate dictionaries. Keys and values are written in the order Binance uses.
struct JSONWriter {
    private(set) var text: String
    private var needsComma = false

    init(capacity: Int = 256) {
        text = ""
        text.reserveCapacity(capacity)
    }

    mutating func beginObject() {
        separator()
        text.append("{")
        needsComma = false
    }

    mutating func endObject() {
        text.append("}")
        needsComma = true
    }

    mutating func beginArray(_ key: String? = nil) {
        if let key { self.key(key) } else { separator() }
        text.append("[")
        needsComma = false
    }

    mutating func endArray() {
        text.append("]")
        needsComma = true
    }

    mutating func beginObject(_ key: String) {
        self.key(key)
        text.append("{")
        needsComma = false
    }

    /// `"key":"value"` — values are ours (symbols, decimals, enum words): no escaping needed,
    /// except through ``string(_:escaping:)``.
    mutating func string(_ key: String, _ value: String) {
        self.key(key)
        text.append("\"")
        text.append(value)
        text.append("\"")
    }

    /// A string that may contain quotes or control characters (error messages).
    mutating func string(_ key: String, escaping value: String) {
        self.key(key)
        appendEscaped(value)
    }

    /// An escaped string as an array element.
    mutating func stringElement(escaping value: String) {
        separator()
        appendEscaped(value)
        needsComma = true
    }

    private mutating func appendEscaped(_ value: String) {
        text.append("\"")
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text.append("\\\"")
            case "\\": text.append("\\\\")
            case "\n": text.append("\\n")
            case "\r": text.append("\\r")
            case "\t": text.append("\\t")
            case _ where scalar.value < 0x20: text.append("\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16))
            default: text.unicodeScalars.append(scalar)
            }
        }
        text.append("\"")
    }

    mutating func decimal(_ key: String, _ value: Int64, _ format: DecimalFormat) {
        self.key(key)
        text.append("\"")
        format.appendFormatted(value, to: &text)
        text.append("\"")
    }

    mutating func int(_ key: String, _ value: Int64) {
        self.key(key)
        text.append(String(value))
    }

    mutating func bool(_ key: String, _ value: Bool) {
        self.key(key)
        text.append(value ? "true" : "false")
    }

    mutating func null(_ key: String) {
        self.key(key)
        text.append("null")
    }

    /// A raw JSON fragment as a value (already-encoded payloads).
    mutating func raw(_ key: String, _ json: String) {
        self.key(key)
        text.append(json)
    }

    /// A raw JSON fragment as an array element.
    mutating func rawElement(_ json: String) {
        separator()
        text.append(json)
        needsComma = true
    }

    /// `["price","qty"]` as an array element.
    mutating func level(_ price: Int64, _ quantity: Int64, price priceFormat: DecimalFormat, quantity quantityFormat: DecimalFormat) {
        separator()
        text.append("[\"")
        priceFormat.appendFormatted(price, to: &text)
        text.append("\",\"")
        quantityFormat.appendFormatted(quantity, to: &text)
        text.append("\"]")
        needsComma = true
    }

    /// `"key":[["price","qty"],…]` for book levels, best first, at the instrument's precision.
    mutating func levels(_ key: String, _ levels: some Sequence<SimOrderBook.Level>, _ instrument: SimInstrument) {
        beginArray(key)
        for level in levels { self.level(level.price, level.quantity, price: instrument.price, quantity: instrument.quantity) }
        endArray()
    }

    private mutating func key(_ key: String) {
        separator()
        text.append("\"")
        text.append(key)
        text.append("\":")
        needsComma = true
    }

    private mutating func separator() {
        if needsComma { text.append(",") }
    }
}
