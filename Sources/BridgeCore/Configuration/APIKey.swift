/// A Binance API key that never appears in descriptions, logs, dumps or errors.
///
/// Wrapping the string makes leaking it take an explicit ``secret`` read: `print`, string
/// interpolation, `String(reflecting:)` and `dump` all show `APIKey(<redacted>)`.
public struct APIKey: Sendable, Equatable {
    /// The key itself; read it only to put it in a request header.
    public let secret: String

    /// Wraps `secret`.
    public init(_ secret: String) {
        self.secret = secret
    }
}

// MARK: Redaction

extension APIKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// `APIKey(<redacted>)`: what `print` and interpolation show.
    public var description: String { "APIKey(<redacted>)" }

    /// `APIKey(<redacted>)`: what `String(reflecting:)` and `debugPrint` show.
    public var debugDescription: String { description }

    /// No children, so `dump` and `Mirror` cannot reach the stored key.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
