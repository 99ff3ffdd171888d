import CMallocTuning

/// Process-wide allocator settings for a long-running bridge.
public enum MemoryTuning {
    /// Blocks at or above this size get their own mapping, returned to the OS on free:
    /// glibc's own default, pinned so that it stays there.
    public static let mmapThresholdBytes = 128 * 1024

    /// Pins glibc's mmap threshold at ``mmapThresholdBytes`` unless the operator set one in
    /// `GLIBC_TUNABLES`. glibc otherwise raises the threshold to the size of every larger mapped
    /// block it frees: one 3 MiB frame (an oversized or a large depth snapshot) moved every later
    /// buffer below 3 MiB into the arenas and raised the bridge's RSS by 8 MiB for good
    /// (docs/reliability.md, "RSS after oversized frames"). Returns whether it was applied.
    @discardableResult
    public static func pinMmapThreshold(environment: [String: String]) -> Bool {
        if let tunables = environment["GLIBC_TUNABLES"], tunables.contains("glibc.malloc.mmap_threshold") { return false }
        return cmalloc_pin_mmap_threshold(mmapThresholdBytes) == 1
    }
}
