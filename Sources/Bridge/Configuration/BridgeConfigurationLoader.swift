import BridgeCore
import Configuration
import Foundation
import RedisClient
import SystemPackage
import Yams

/// Builds a ``BridgeConfiguration`` from command-line flags, `BRIDGE_*` environment variables
/// and a YAML file — flag > environment > file > default — and validates every value.
///
/// Values are read through swift-configuration (`ConfigReader` over an in-memory provider for
/// the flags, one for the environment and a `FileProvider<YAMLSnapshot>`, in that order). The
/// file is also walked with Yams first so that a misspelt key or a list where a value belongs
/// is an error instead of a silently ignored setting.
public enum BridgeConfigurationLoader {
    /// Where a value came from, for error messages.
    private enum Source {
        case flag(String), environment(String), file(String), defaultValue

        var label: String {
            switch self {
            case .flag(let flag): " (from \(flag))"
            case .environment(let name): " (from environment variable \(name))"
            case .file(let path): " (from \(path))"
            case .defaultValue: ""
            }
        }
    }

    /// Loads and validates the configuration.
    /// - Parameters:
    ///   - arguments: raw arguments after the subcommand: `--redis-url X`, `--redis-url=X`,
    ///     bare `--books-enabled`, `--config PATH`.
    ///   - environment: the process environment; only our `BRIDGE_*` names are read.
    ///   - defaultConfigFile: used when neither `--config` nor `BRIDGE_CONFIG` names a file
    ///     and it exists.
    public static func load(
        arguments: [String],
        environment: [String: String],
        defaultConfigFile: String? = "config/bridge.yaml"
    ) async throws(ConfigurationError) -> BridgeConfiguration {
        let (flags, explicitFile) = try parseArguments(arguments)
        var environmentValues: [String: String] = [:]
        for setting in BridgeConfiguration.settings {
            if let value = environment[setting.environmentVariable] { environmentValues[setting.key] = value }
        }

        // The file: an explicit one must exist; the default one is optional.
        var filePath: String?
        if let explicit = explicitFile ?? environment["BRIDGE_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard FileManager.default.fileExists(atPath: explicit) else {
                throw ConfigurationError(key: "config", problem: "file \"\(explicit)\" does not exist")
            }
            filePath = explicit
        } else if let fallback = defaultConfigFile, FileManager.default.fileExists(atPath: fallback) {
            filePath = fallback
        }
        var fileKeys: Set<String> = []
        var providers: [any ConfigProvider] = [
            InMemoryProvider(name: "flags", values: providerValues(flags.mapValues(\.value))),
            InMemoryProvider(name: "environment", values: providerValues(environmentValues)),
        ]
        if let filePath {
            fileKeys = try validateFileStructure(path: filePath)
            do {
                providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(filePath)))
            } catch {
                let oneLine = "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
                throw ConfigurationError(key: filePath, problem: "cannot read the file: \(oneLine)")
            }
        }
        let reader = ConfigReader(providers: providers)

        /// The winning raw value of `key` and where it came from.
        func raw(_ key: String) -> (String, Source)? {
            let setting = BridgeConfiguration.settings.first { $0.key == key }
            guard let value = reader.string(forKey: ConfigKey(key), isSecret: setting?.isSecret ?? false) else { return nil }
            let source: Source =
                if let flag = flags[key] { .flag(flag.flag) }
                else if environmentValues[key] != nil { .environment(setting?.environmentVariable ?? key) }
                else if fileKeys.contains(key), let filePath { .file(filePath) }
                else { .defaultValue }
            return (value, source)
        }
        func fail(_ key: String, _ problem: String, _ source: Source) -> ConfigurationError {
            ConfigurationError(key: key, problem: problem + source.label)
        }
        func string(_ key: String, validate: (String) -> String?) throws(ConfigurationError) -> String? {
            guard let (value, source) = raw(key) else { return nil }
            if let problem = validate(value) { throw fail(key, problem, source) }
            return value
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
            guard let (value, source) = raw(key) else { return nil }
            let trimmed = value.trimmingCharacters(in: .whitespaces)
            guard let number = Int(trimmed), range.contains(number) else {
                throw fail(key, "expected an integer in \(range.lowerBound)…\(range.upperBound), got \"\(value)\"", source)
            }
            return number
        }
        func boolean(_ key: String) throws(ConfigurationError) -> Bool? {
            guard let (value, source) = raw(key) else { return nil }
            switch value.lowercased().trimmingCharacters(in: .whitespaces) {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw fail(key, "expected true or false, got \"\(value)\"", source)
            }
        }
        func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ type: T.Type) throws(ConfigurationError) -> T? where T.RawValue == String {
            guard let (value, source) = raw(key) else { return nil }
            guard let parsed = T(rawValue: value.lowercased()) else {
                let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
                throw fail(key, "expected one of \(allowed), got \"\(value)\"", source)
            }
            return parsed
        }

        // MARK: Values
        var configuration = BridgeConfiguration()
        if let url = try string("redis.url", validate: { text in
            do {
                _ = try RedisURL(parsing: text)
                return nil
            } catch {
                return (error as? RedisClientError)?.message ?? "\(error)"
            }
        }) {
            configuration.redis.url = url
        }
        if let prefix = try string("redis.prefix", validate: { text in
            text.isEmpty || text.contains(where: { $0.isWhitespace })
                ? "expected a non-empty prefix without spaces, got \"\(text)\"" : nil
        }) {
            configuration.redis.prefix = prefix
        }
        if let maxlen = try integer("redis.maxlen", 1...1_000_000_000) { configuration.redis.maxlen = maxlen }
        if let ms = try integer("redis.connect_timeout_ms", 1...3_600_000) { configuration.redis.connectTimeout = .milliseconds(ms) }
        if let ms = try integer("redis.command_timeout_ms", 1...3_600_000) { configuration.redis.commandTimeout = .milliseconds(ms) }
        if let environment = try choice("environment", BinanceEnvironment.self) { configuration.environment = environment }
        for market in BinanceMarket.allCases {
            // Explicit URLs win; otherwise the environment's defaults apply.
            var endpoints = BridgeConfiguration.MarketEndpoints.standard(market, configuration.environment)
            if let url = try string("\(market.rawValue).ws_url", validate: { urlProblem($0, schemes: ["ws", "wss"]) }) {
                endpoints.webSocketURL = url
            }
            if let url = try string("\(market.rawValue).rest_url", validate: { urlProblem($0, schemes: ["http", "https"]) }) {
                endpoints.restURL = url
            }
            switch market {
            case .usdm: configuration.usdm = endpoints
            case .coinm: configuration.coinm = endpoints
            }
        }
        if let key = try string("api_key", validate: { $0.trimmingCharacters(in: .whitespaces).isEmpty ? "the API key is empty" : nil }) {
            configuration.apiKey = APIKey(key)
        }
        if let port = try integer("http.port", 1...65_535) { configuration.http.port = port }
        if let strict = try boolean("instruments.strict") { configuration.instruments.strict = strict }
        if let sync = try boolean("instruments.sync_on_start") { configuration.instruments.syncOnStart = sync }
        if let books = try boolean("books.enabled") { configuration.books.enabled = books }
        if let level = try choice("log.level", BridgeConfiguration.LogLevel.self) { configuration.log.level = level }
        return configuration
    }

    // MARK: Command line

    private static func parseArguments(_ arguments: [String]) throws(ConfigurationError) -> ([String: (value: String, flag: String)], String?) {
        var flags: [String: (value: String, flag: String)] = [:]
        var configFile: String?
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw ConfigurationError(key: argument, problem: "unexpected argument; settings are given as --key value")
            }
            var name = argument
            var inlineValue: String?
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inlineValue = String(argument[argument.index(after: equals)...])
            }
            let setting = BridgeConfiguration.settings.first { $0.flag == name }
            guard name == "--config" || setting != nil else {
                throw ConfigurationError(key: name, problem: "unknown flag (see config/bridge.yaml for every setting)")
            }
            var value = inlineValue
            if value == nil, index < arguments.count, !arguments[index].hasPrefix("--") {
                value = arguments[index]
                index += 1
            }
            if value == nil, setting?.isBoolean == true { value = "true" }
            guard let value else { throw ConfigurationError(key: name, problem: "missing value") }
            if let setting {
                flags[setting.key] = (value, name)
            } else {
                configFile = value
            }
        }
        return (flags, configFile)
    }

    private static func providerValues(_ values: [String: String]) -> [AbsoluteConfigKey: ConfigValue] {
        var result: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in values {
            let secret = BridgeConfiguration.settings.first { $0.key == key }?.isSecret ?? false
            result[AbsoluteConfigKey(ConfigKey(key))] = ConfigValue(.string(value), isSecret: secret)
        }
        return result
    }

    // MARK: File structure

    /// Parses the YAML file and returns its dotted keys; rejects unknown keys, empty values
    /// and lists or maps where a single value belongs.
    private static func validateFileStructure(path: String) throws(ConfigurationError) -> Set<String> {
        let text: String
        let root: Node?
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
            root = try Yams.compose(yaml: text)
        } catch {
            // Yams reports position and a source excerpt over several lines; keep one line.
            let oneLine = "\(error)".split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            throw ConfigurationError(key: path, problem: "not valid YAML: \(oneLine.joined(separator: " "))")
        }
        guard let root else { return [] }  // an empty file sets nothing
        guard case .mapping = root else {
            throw ConfigurationError(key: path, problem: "the top level must be a mapping of settings")
        }
        let known = Set(BridgeConfiguration.settings.map(\.key))
        var keys: Set<String> = []
        func walk(_ node: Node, prefix: String) throws(ConfigurationError) {
            switch node {
            case .mapping(let mapping):
                for (keyNode, value) in mapping {
                    let name = keyNode.string ?? "\(keyNode)"
                    let key = prefix.isEmpty ? name : prefix + "." + name
                    if known.contains(key) {
                        guard case .scalar(let scalar) = value else {
                            throw ConfigurationError(key: key, problem: "expected a single value in \(path), got a \(value.kindName)")
                        }
                        // A plain `~`/`null`/nothing is YAML's null; "" quoted is an empty string.
                        if scalar.string.isEmpty || (scalar.style == .plain && ["~", "null", "Null", "NULL"].contains(scalar.string)) {
                            throw ConfigurationError(key: key, problem: "empty value in \(path) (remove the key to use the default)")
                        }
                        keys.insert(key)
                    } else if known.contains(where: { $0.hasPrefix(key + ".") }), case .mapping = value {
                        try walk(value, prefix: key)
                    } else {
                        throw ConfigurationError(key: key, problem: "unknown setting in \(path)")
                    }
                }
            default:
                throw ConfigurationError(key: prefix, problem: "expected a mapping in \(path)")
            }
        }
        try walk(root, prefix: "")
        return keys
    }

    /// Nil when `text` is an absolute URL with one of `schemes` and a host.
    private static func urlProblem(_ text: String, schemes: [String]) -> String? {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              schemes.contains(scheme), let host = components.host, !host.isEmpty
        else {
            return "expected a \(schemes.map { $0 + "://" }.joined(separator: " or ")) URL with a host, got \"\(text)\""
        }
        return nil
    }
}

extension Node {
    fileprivate var kindName: String {
        switch self {
        case .scalar: "value"
        case .mapping: "mapping"
        case .sequence: "list"
        case .alias: "alias"
        }
    }
}
