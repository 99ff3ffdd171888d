/// Where and how to reach a Redis server, parsed from a URL.
///
/// Accepted forms:
/// - `redis://[[user]:password@]host[:port][/db]` — host may be a name, an IPv4 address or a
///   bracketed IPv6 literal (`[::1]`); port defaults to 6379, db to 0. User and password are
///   percent-decoded. With a password the client sends `AUTH [user] password`.
/// - `unix:///absolute/path/to/redis.sock[?db=N]`.
///
/// Everything else (other schemes such as `rediss://`, which would need TLS hiredis 0.14 lacks,
/// empty hosts, ports outside 1…65535, non-numeric databases, stray query items) is rejected
/// with a ``RedisClientError`` whose message names the problem.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    /// The transport to the server.
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    /// The transport to the server.
    public var address: Address
    /// The ACL user name (Redis 6+), sent only together with a password.
    public var user: String?
    /// The password, sent with `AUTH`; never printed.
    public var password: String?
    /// The logical database selected with `SELECT` after connecting.
    public var database: Int

    public init(address: Address, user: String? = nil, password: String? = nil, database: Int = 0) {
        self.address = address
        self.user = user
        self.password = password
        self.database = database
    }

    /// Parses `string`, throwing ``RedisClientError/Code/invalidURL`` with a precise message.
    public init(parsing string: String) throws(RedisClientError) {
        func fail(_ problem: String) -> RedisClientError {
            RedisClientError(code: .invalidURL, message: "invalid Redis URL \"\(Self.redact(string))\": \(problem)")
        }
        if string.hasPrefix("unix://") {
            let rest = String(string.dropFirst("unix://".count))
            let (path, query) = Self.split(rest, at: "?")
            guard path.hasPrefix("/") else { throw fail("a unix socket path must be absolute (unix:///path/to/redis.sock)") }
            guard path.count > 1 else { throw fail("the unix socket path is empty") }
            var database = 0
            if let query {
                for item in query.split(separator: "&", omittingEmptySubsequences: false) {
                    let (name, value) = Self.split(String(item), at: "=")
                    guard name == "db", let value else { throw fail("unsupported query item \"\(item)\" (only db=N)") }
                    guard let db = Self.parseDatabase(value) else { throw fail("database \"\(value)\" is not a non-negative integer") }
                    database = db
                }
            }
            self.init(address: .unix(path: path), database: database)
            return
        }
        guard string.hasPrefix("redis://") else {
            if string.hasPrefix("rediss://") {
                throw fail("TLS (rediss://) is not supported by hiredis 0.14; use a TLS tunnel")
            }
            throw fail("the scheme must be redis:// or unix://")
        }
        var rest = Substring(string.dropFirst("redis://".count))
        if rest.contains("?") || rest.contains("#") { throw fail("query strings and fragments are not supported") }

        // Credentials: everything before the last '@' (a password may contain a literal '@'
        // only percent-encoded, but we split at the last one to be forgiving).
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let (rawUser, rawPassword) = Self.split(String(credentials), at: ":")
            guard let rawPassword else {
                throw fail("credentials must be user:password or :password (a user without a password cannot authenticate)")
            }
            guard let decodedPassword = Self.percentDecode(rawPassword), !decodedPassword.isEmpty else {
                throw fail("the password is empty or badly percent-encoded")
            }
            guard let decodedUser = Self.percentDecode(rawUser) else { throw fail("the user name is badly percent-encoded") }
            user = decodedUser.isEmpty ? nil : decodedUser
            password = decodedPassword
        }

        // Database: an optional "/N" after the authority.
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let dbText = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !dbText.isEmpty {
                guard let db = Self.parseDatabase(String(dbText)) else {
                    throw fail("database \"\(dbText)\" is not a non-negative integer")
                }
                database = db
            }
        }

        // Host and port; IPv6 literals are bracketed.
        let host: String
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("unterminated IPv6 literal") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("unexpected text after the IPv6 literal") }
                portText = after.dropFirst()
            }
        } else {
            if let colon = rest.firstIndex(of: ":") {
                host = String(rest[..<colon])
                portText = rest[rest.index(after: colon)...]
            } else {
                host = String(rest)
            }
        }
        guard !host.isEmpty else { throw fail("the host is empty") }
        guard !host.contains(where: { $0 == " " || $0 == "/" || $0 == "@" }) else { throw fail("the host \"\(host)\" is not valid") }
        var port = 6379
        if let portText {
            guard let value = Int(portText), (1...65_535).contains(value) else {
                throw fail("port \"\(portText)\" is not an integer in 1…65535")
            }
            port = value
        }
        self.init(address: .tcp(host: host, port: port), user: user, password: password, database: database)
    }

    /// The URL with the password replaced by `***`, safe for logs.
    public var description: String {
        switch address {
        case .unix(let path):
            return database == 0 ? "unix://\(path)" : "unix://\(path)?db=\(database)"
        case .tcp(let host, let port):
            let credentials = password == nil ? "" : "\(user ?? ""):***@"
            let hostPart = host.contains(":") ? "[\(host)]" : host
            return "redis://\(credentials)\(hostPart):\(port)/\(database)"
        }
    }

    // MARK: Helpers

    private static func split(_ text: String, at separator: Character) -> (String, String?) {
        guard let index = text.firstIndex(of: separator) else { return (text, nil) }
        return (String(text[..<index]), String(text[text.index(after: index)...]))
    }

    private static func parseDatabase(_ text: String) -> Int? {
        guard !text.isEmpty, text.allSatisfy(\.isASCII), let value = Int(text), value >= 0, value <= 1_000_000 else {
            return nil
        }
        return value
    }

    /// Decodes `%XX` escapes; nil when an escape is malformed or the bytes are not UTF-8.
    static func percentDecode(_ text: String) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Hides a password in a URL that failed to parse, so the error can be logged.
    private static func redact(_ text: String) -> String {
        guard text.hasPrefix("redis://"), let at = text.lastIndex(of: "@") else { return text }
        let authority = text[text.index(text.startIndex, offsetBy: 8)..<at]
        guard let colon = authority.firstIndex(of: ":") else { return text }
        return "redis://" + authority[..<colon] + ":***" + text[at...]
    }
}
