import CMallocTuning
#if canImport(Glibc)
import Glibc
#endif

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

    /// Whether a 1 MiB block is a mapping of its own right after three 3 MiB blocks were freed:
    /// true with the pin, false under glibc's dynamic threshold; nil where not glibc. Only
    /// meaningful in a fresh process (a busy heap serves the block from free arena memory
    /// whatever the threshold): `binance-bridge malloc-probe` runs it for MemoryTuningTests.
    public static func largeBlockStaysMappedAfterALargerOneIsFreed() -> Bool? {
        for _ in 0..<3 {
            guard let big = malloc(3 << 20) else { return nil }
            memset(big, 1, 3 << 20)
            free(big)
        }
        guard let medium = malloc(1 << 20) else { return nil }
        defer { free(medium) }
        switch cmalloc_chunk_is_mmapped(medium) {
        case 1: return true
        case 0: return false
        default: return nil
        }
    }
}
