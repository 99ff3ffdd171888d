import Foundation

/// A decoded JSON value that keeps booleans, integers and other numbers apart — Binance's
/// request validation depends on it (`id` must be an unsigned integer, `combined` a Boolean),
/// and `JSONSerialization` on Linux blurs them into `NSNumber`.
enum SimJSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([SimJSONValue])
    case object([String: SimJSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([SimJSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: SimJSONValue].self))
        }
    }

    /// Parses `text`; the error's description is one line, for Binance's code-3 message.
    static func parse(_ text: String) throws -> SimJSONValue {
        do {
            return try JSONDecoder().decode(SimJSONValue.self, from: Data(text.utf8))
        } catch let DecodingError.dataCorrupted(context) {
            let detail = (context.underlyingError.map { "\($0)" } ?? context.debugDescription)
            throw SimJSONError(detail: detail.split(whereSeparator: \.isNewline).joined(separator: " "))
        }
    }
}

/// Why a request is not valid JSON.
struct SimJSONError: Error {
    let detail: String
}
