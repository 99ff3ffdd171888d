/// Errors of the stream connections; transport failures carry the underlying error's text.
public struct BinanceStreamsError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case connectTimeout
        case connectFailed
        case messageTooLarge
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
