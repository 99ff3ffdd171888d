/// The bridge version reported in `status` replies, the status hash and `--version`.
public enum BridgeVersion {
    /// Semantic version of this build.
    public static let current = "0.1.0"
}
