import BridgeCore
import Configuration
import Foundation
import RedisClient
import Yams

/// Builds a ``BridgeConfiguration`` from command-line flags, `BRIDGE_*` environment variables
/// and a YAML file — flag > environment > file > default — and validates every value, so a
/// bad deployment stops at start-up with one line naming the key instead of misbehaving later.
///
/// Values are read through swift-configuration: a `ConfigReader` over three in-memory
/// providers, in precedence order — the parsed flags, the environment mapped explicitly from
/// our `BRIDGE_*` names (other variables are ignored), and the file. The file is parsed with
/// Yams and walked against ``BridgeConfiguration/settings`` first, so that a misspelt key, a
/// key given twice or a list where a value belongs is an error rather than a silently
/// ignored setting.
public enum BridgeConfigurationLoader {
    /// The environment variable that names the YAML file, like `--config`.
    public static let configFileEnvironmentVariable = "BRIDGE_CONFIG"

    /// Loads and validates the configuration.
    /// - Parameters:
    ///   - arguments: raw arguments without the program name: `--redis-url X`,
    ///     `--redis-url=X`, bare `--books-enabled` (true), `--config PATH`.
    ///   - environment: the process environment; only the table's `BRIDGE_*` names and
    ///     `BRIDGE_CONFIG` are read.
    ///   - defaultConfigFile: read when neither `--config` nor `BRIDGE_CONFIG` names a file,
    ///     if it exists; otherwise only the defaults apply.
    /// - Throws: the first invalid setting, argument or file problem.
    public static func load(
        arguments: [String],
        environment: [String: String],
        defaultConfigFile: String? = "config/bridge.yaml"
    ) throws(ConfigurationError) -> BridgeConfiguration {
        let commandLine = try ParsedArguments(arguments)

        var environmentValues: [String: String] = [:]
        for setting in BridgeConfiguration.settings {
            if let value = environment[setting.environmentVariable] { environmentValues[setting.key] = value }
        }

        let explicitFile = commandLine.configFile ?? environment[configFileEnvironmentVariable].flatMap { $0.isEmpty ? nil : $0 }
        let filePath: String?
        if let explicitFile {
            guard FileManager.default.fileExists(atPath: explicitFile) else {
                throw ConfigurationError(key: "config", problem: "file \"\(explicitFile)\" does not exist")
            }
            filePath = explicitFile
        } else if let defaultConfigFile, FileManager.default.fileExists(atPath: defaultConfigFile) {
            filePath = defaultConfigFile
        } else {
            filePath = nil
        }
        let fileValues = try filePath.map { path throws(ConfigurationError) in try readFile(path) } ?? [:]

        let reader = ConfigReader(providers: [
            provider(named: "flags", commandLine.values.mapValues(\.value)),
            provider(named: "environment", environmentValues),
            provider(named: filePath ?? "file", fileValues),
        ])
        let settings = SettingValues(reader: reader) { key in
            if let flag = commandLine.values[key]?.flag { return "from \(flag)" }
            if environmentValues[key] != nil, let setting = BridgeConfiguration.settings.first(where: { $0.key == key }) {
                return "from environment variable \(setting.environmentVariable)"
            }
            return "from \(filePath ?? "file")"
        }
        return try settings.configuration()
    }

    /// An in-memory provider of string values, marking the secret ones as such.
    private static func provider(named name: String, _ values: [String: String]) -> InMemoryProvider {
        var contents: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in values {
            let isSecret = BridgeConfiguration.settings.first { $0.key == key }?.isSecret ?? false
            contents[AbsoluteConfigKey(ConfigKey(key))] = ConfigValue(.string(value), isSecret: isSecret)
        }
        return InMemoryProvider(name: name, values: contents)
    }
}

// MARK: Reading and validating values

/// Reads each setting's winning value and turns it into a typed, validated value.
private struct SettingValues {
    let reader: ConfigReader
    /// Where the winning value of a key came from, e.g. `from --redis-url`.
    let origin: (String) -> String

    /// The whole configuration: defaults, overridden by every value found.
    func configuration() throws(ConfigurationError) -> BridgeConfiguration {
        var configuration = BridgeConfiguration()
        if let url = try string("redis.url", validate: Self.redisURLProblem) { configuration.redis.url = url }
        if let prefix = try string("redis.prefix", validate: Self.prefixProblem) { configuration.redis.prefix = prefix }
        if let maxlen = try integer("redis.maxlen", in: 1...1_000_000_000) { configuration.redis.maxlen = maxlen }
        if let ms = try integer("redis.connect_timeout_ms", in: 1...3_600_000) { configuration.redis.connectTimeout = .milliseconds(ms) }
        if let ms = try integer("redis.command_timeout_ms", in: 1...3_600_000) { configuration.redis.commandTimeout = .milliseconds(ms) }
        if let environment = try choice("environment", of: BinanceEnvironment.self) { configuration.environment = environment }
        // A URL given anywhere wins; otherwise the chosen environment's default applies.
        for market in BinanceMarket.allCases {
            var endpoints = BridgeConfiguration.MarketEndpoints.standard(market, configuration.environment)
            if let url = try string("\(market.rawValue).ws_url", validate: { Self.urlProblem($0, schemes: ["ws", "wss"]) }) {
                endpoints.webSocketURL = url
            }
            if let url = try string("\(market.rawValue).rest_url", validate: { Self.urlProblem($0, schemes: ["http", "https"]) }) {
                endpoints.restURL = url
            }
            switch market {
            case .usdm: configuration.usdm = endpoints
            case .coinm: configuration.coinm = endpoints
            }
        }
        if let key = try string("api_key", validate: { $0.allSatisfy(\.isWhitespace) ? "the API key is empty" : nil }) {
            configuration.apiKey = APIKey(key)
        }
        if let port = try integer("http.port", in: 0...65_535) { configuration.http.port = port }
        if let host = try string("http.host", validate: { $0.isEmpty || $0.contains(where: \.isWhitespace) ? "expected an address such as 0.0.0.0, 127.0.0.1 or ::1, got \"\($0)\"" : nil }) {
            configuration.http.host = host
        }
        if let strict = try boolean("instruments.strict") { configuration.instruments.strict = strict }
        if let sync = try boolean("instruments.sync_on_start") { configuration.instruments.syncOnStart = sync }
        try books(&configuration.books)
        if let level = try choice("log.level", of: BridgeConfiguration.LogLevel.self) { configuration.log.level = level }
        if let bytes = try integer("publisher.buffer_bytes", in: 65_536...(1 << 40)) { configuration.publisher.bufferBytes = bytes }
        if let size = try integer("publisher.batch_size", in: 1...100_000) { configuration.publisher.batchSize = size }
        if let window = try integer("publisher.batch_window_us", in: 0...1_000_000) { configuration.publisher.batchWindow = .microseconds(window) }
        try pool(&configuration.pool)
        for kind in BinanceStreamKind.allCases {
            if let maxlen = try integer("maxlen.\(kind.settingName)", in: 1...1_000_000_000) { configuration.maxlenByKind[kind] = maxlen }
        }
        return configuration
    }

    /// `books.*`.
    private func books(_ books: inout BridgeConfiguration.Books) throws(ConfigurationError) {
        if let enabled = try boolean("books.enabled") { books.enabled = enabled }
        if let symbols = try symbolList("books.symbols") { books.symbols = symbols }
        if let symbols = try symbolList("books.exclude") { books.exclude = symbols }
        if let limit = try integer("books.depth_limit", in: 5...1_000) {
            guard [5, 10, 20, 50, 100, 500, 1_000].contains(limit) else {
                throw failure("books.depth_limit", "expected one of 5, 10, 20, 50, 100, 500, 1000 (Binance's limits), got \"\(limit)\"")
            }
            books.depthLimit = limit
        }
        if let weight = try integer("books.rest_weight_per_minute", in: 20...2_400) { books.restWeightPerMinute = weight }
        if let count = try integer("books.buffer_events", in: 10...1_000_000) { books.bufferEvents = count }
        if let count = try integer("books.snapshot_every_updates", in: 0...100_000_000) { books.snapshotEveryUpdates = count }
        if let seconds = try integer("books.snapshot_every_s", in: 0...86_400) { books.snapshotInterval = .seconds(seconds) }
        if let ms = try integer("books.snapshot_timeout_ms", in: 100...600_000) { books.snapshotTimeout = .milliseconds(ms) }
    }

    /// A comma-separated list of exchange symbols, upper-cased; empty items are ignored.
    private func symbolList(_ key: String) throws(ConfigurationError) -> Set<String>? {
        guard let value = raw(key) else { return nil }
        var symbols: Set<String> = []
        for item in value.split(separator: ",") {
            let symbol = item.trimmingCharacters(in: .whitespaces).uppercased()
            if symbol.isEmpty { continue }
            guard symbol.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                throw failure(key, "expected comma-separated symbols such as BTCUSDT,BTCUSD_PERP, got \"\(item)\"")
            }
            symbols.insert(symbol)
        }
        return symbols
    }

    /// `pool.*`; the margin must be shorter than the lifetime (whichever key set either), and
    /// the idle timeout follows the ping interval (it must exceed it).
    private func pool(_ pool: inout StreamPoolConfiguration) throws(ConfigurationError) {
        if let count = try integer("pool.max_connections", in: 1...1_000) { pool.maxConnections = count }
        if let count = try integer("pool.max_streams_per_connection", in: 1...1_024) { pool.maxStreamsPerConnection = count }
        if let rate = try integer("pool.requests_per_second", in: 1...9) { pool.requestsPerSecond = rate }
        if let seconds = try integer("pool.connection_lifetime_s", in: 2...(7 * 86_400)) { pool.connectionLifetime = .seconds(seconds) }
        if let seconds = try integer("pool.rotation_margin_s", in: 1...(7 * 86_400)) { pool.rotationMargin = .seconds(seconds) }
        if let seconds = try integer("pool.rotation_overlap_s", in: 1...3_600) { pool.rotationOverlapTimeout = .seconds(seconds) }
        if let seconds = try integer("pool.ping_interval_s", in: 1...3_600) {
            pool.pingInterval = .seconds(seconds)
            // Unless set too, the idle timeout follows: it must exceed the ping interval.
            pool.idleTimeout = max(pool.idleTimeout, .seconds(seconds + 30))
        }
        if let seconds = try integer("pool.idle_timeout_s", in: 2...7_200) {
            guard .seconds(seconds) > pool.pingInterval else {
                throw failure("pool.idle_timeout_s", "expected more than pool.ping_interval_s (\(pool.pingInterval.components.seconds)), got \"\(seconds)\": a connection of quiet streams lives on pings")
            }
            pool.idleTimeout = .seconds(seconds)
        }
        // The margin must leave time on the lifetime.
        if pool.rotationMargin >= pool.connectionLifetime {
            let key = raw("pool.rotation_margin_s") != nil ? "pool.rotation_margin_s" : "pool.connection_lifetime_s"
            throw failure(key, "pool.rotation_margin_s (\(pool.rotationMargin.components.seconds)) must be shorter than pool.connection_lifetime_s (\(pool.connectionLifetime.components.seconds))")
        }
    }

    // MARK: Typed reads

    private func raw(_ key: String) -> String? {
        let isSecret = BridgeConfiguration.settings.first { $0.key == key }?.isSecret ?? false
        return reader.string(forKey: ConfigKey(key), isSecret: isSecret)
    }

    private func failure(_ key: String, _ problem: String) -> ConfigurationError {
        ConfigurationError(key: key, problem: "\(problem) (\(origin(key)))")
    }

    private func string(_ key: String, validate: (String) -> String?) throws(ConfigurationError) -> String? {
        guard let value = raw(key) else { return nil }
        if let problem = validate(value) { throw failure(key, problem) }
        return value
    }

    private func integer(_ key: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
        guard let value = raw(key) else { return nil }
        guard let number = Int(value.trimmingCharacters(in: .whitespaces)), range.contains(number) else {
            throw failure(key, "expected an integer in \(range.lowerBound)…\(range.upperBound), got \"\(value)\"")
        }
        return number
    }

    private func boolean(_ key: String) throws(ConfigurationError) -> Bool? {
        guard let value = raw(key) else { return nil }
        switch value.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw failure(key, "expected true or false (also 1/0, yes/no, on/off), got \"\(value)\"")
        }
    }

    private func choice<T: RawRepresentable & CaseIterable>(_ key: String, of type: T.Type) throws(ConfigurationError) -> T?
    where T.RawValue == String {
        guard let value = raw(key) else { return nil }
        guard let parsed = T(rawValue: value.trimmingCharacters(in: .whitespaces).lowercased()) else {
            throw failure(key, "expected one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(value)\"")
        }
        return parsed
    }

    // MARK: Checks (nil when valid)

    /// The Redis client's own parser decides, so whatever passes here also connects.
    private static func redisURLProblem(_ text: String) -> String? {
        do {
            _ = try RedisURL(parsing: text)
            return nil
        } catch {
            return error.message  // already masks a password
        }
    }

    private static func prefixProblem(_ text: String) -> String? {
        text.isEmpty || text.contains(where: \.isWhitespace) ? "expected a non-empty prefix without spaces, got \"\(text)\"" : nil
    }

    private static func urlProblem(_ text: String, schemes: [String]) -> String? {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              schemes.contains(scheme), let host = components.host, !host.isEmpty
        else {
            return "expected a \(schemes.map { $0 + "://" }.joined(separator: " or ")) URL with a host, got \"\(text)\""
        }
        return nil
    }
}

// MARK: Command line

/// `--key value`, `--key=value`, bare boolean `--key`, and `--config PATH`.
private struct ParsedArguments {
    /// Setting key → (value, the flag as written).
    var values: [String: (value: String, flag: String)] = [:]
    /// The file named by `--config`.
    var configFile: String?

    init(_ arguments: [String]) throws(ConfigurationError) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw ConfigurationError(key: argument, problem: "unexpected argument; settings are given as --key value")
            }
            var name = argument
            var value: String?
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            }
            let setting = BridgeConfiguration.settings.first { $0.flag == name }
            guard name == "--config" || setting != nil else {
                throw ConfigurationError(key: name, problem: "unknown flag (config/bridge.yaml documents every setting)")
            }
            if value == nil, index < arguments.count, !arguments[index].hasPrefix("--") {
                value = arguments[index]
                index += 1
            }
            if value == nil, setting?.isBoolean == true { value = "true" }
            guard let value else { throw ConfigurationError(key: name, problem: "missing value") }
            if let setting {
                values[setting.key] = (value, name)
            } else {
                configFile = value
            }
        }
    }
}

// MARK: The file

extension BridgeConfigurationLoader {
    /// Parses the YAML file into dotted key → value text; rejects unknown and repeated keys,
    /// empty values, and lists or mappings where a single value belongs.
    private static func readFile(_ path: String) throws(ConfigurationError) -> [String: String] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: try String(contentsOfFile: path, encoding: .utf8))
        } catch {
            // Yams reports the position and an excerpt over several lines; keep one line.
            let oneLine = "\(error)".split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            throw ConfigurationError(key: path, problem: "cannot read the file as YAML: \(oneLine.joined(separator: " "))")
        }
        guard let root else { return [:] }  // nothing but comments: defaults only
        guard case .mapping(let mapping) = root else {
            throw ConfigurationError(key: path, problem: "the top level must be a mapping of settings")
        }
        var values: [String: String] = [:]
        try collect(mapping, under: "", from: path, into: &values)
        return values
    }

    private static func collect(
        _ mapping: Node.Mapping,
        under section: String,
        from path: String,
        into values: inout [String: String]
    ) throws(ConfigurationError) {
        let known = BridgeConfiguration.settings.map(\.key)
        for (keyNode, value) in mapping {
            let name = keyNode.scalar?.string ?? "\(keyNode)"
            let key = section.isEmpty ? name : section + "." + name
            if known.contains(key) {
                guard case .scalar(let scalar) = value else {
                    throw ConfigurationError(key: key, problem: "expected a single value, got a \(value.kindName) (in \(path))")
                }
                guard !scalar.isNullOrEmpty else {
                    throw ConfigurationError(key: key, problem: "empty value (in \(path)); remove the key to use the default")
                }
                guard values[key] == nil else {
                    throw ConfigurationError(key: key, problem: "set more than once (in \(path))")
                }
                values[key] = scalar.string
            } else if known.contains(where: { $0.hasPrefix(key + ".") }) {
                switch value {
                case .mapping(let inner):
                    try collect(inner, under: key, from: path, into: &values)
                case .scalar(let scalar) where scalar.isNullOrEmpty:
                    continue  // a section whose settings are all commented out
                default:
                    throw ConfigurationError(key: key, problem: "expected a mapping of \(key).* settings, got a \(value.kindName) (in \(path))")
                }
            } else {
                let siblings = known.filter { !section.isEmpty && $0.hasPrefix(section + ".") }.map { $0.dropFirst(section.count + 1) }
                let hint = siblings.isEmpty ? "" : "; \(section) has \(siblings.joined(separator: ", "))"
                throw ConfigurationError(key: key, problem: "unknown setting (in \(path))\(hint)")
            }
        }
    }
}

extension Node {
    /// How the node is described in errors.
    fileprivate var kindName: String {
        switch self {
        case .scalar: "value"
        case .mapping: "mapping"
        case .sequence: "list"
        case .alias: "alias"
        }
    }
}

extension Node.Scalar {
    /// YAML's null (nothing, `~`, `null`) or an empty string: never a usable setting.
    fileprivate var isNullOrEmpty: Bool {
        string.isEmpty || (style == .plain && ["~", "null", "Null", "NULL"].contains(string))
    }
}
