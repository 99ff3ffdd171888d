/// Sends requests on an open connection.
public struct BinanceRequestWriter: Sendable {
    private let write: @Sendable (String) async throws -> Void

    init(_ write: @escaping @Sendable (String) async throws -> Void) {
        self.write = write
    }

    /// Sends one text frame (a JSON request such as `{"method":"SUBSCRIBE",…}`).
    public func send(_ text: String) async throws {
        try await write(text)
    }
}
