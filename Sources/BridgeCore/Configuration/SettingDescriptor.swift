/// One configuration key, as documented: its YAML key, environment variable, flag, default
/// and meaning.
///
/// The environment variable and flag are derived from the key by one rule, so the three names
/// of a setting cannot drift apart.
public struct SettingDescriptor: Sendable, Equatable {
    /// The dotted YAML key, e.g. `redis.url`.
    public let key: String
    /// The default as text, for documentation (`none` when there is none).
    public let defaultValue: String
    /// One line saying what the setting does.
    public let summary: String
    /// Whether a bare flag (`--books-enabled`) means `true`.
    public let isBoolean: Bool
    /// Whether the value must never be printed (the API key).
    public let isSecret: Bool

    init(_ key: String, _ defaultValue: String, _ summary: String, isBoolean: Bool = false, isSecret: Bool = false) {
        self.key = key
        self.defaultValue = defaultValue
        self.summary = summary
        self.isBoolean = isBoolean
        self.isSecret = isSecret
    }

    // MARK: Derived names

    /// `BRIDGE_` + the key in upper case, dots as underscores: `BRIDGE_REDIS_URL`.
    public var environmentVariable: String {
        "BRIDGE_" + String(key.uppercased().map { $0 == "." ? "_" : $0 })
    }

    /// `--` + the key, dots and underscores as hyphens: `--instruments-sync-on-start`.
    public var flag: String {
        "--" + String(key.map { $0 == "." || $0 == "_" ? "-" : $0 })
    }
}
