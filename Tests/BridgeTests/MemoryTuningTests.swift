import Bridge
import CMallocTuning
import Glibc
import Testing

/// The allocator setting behind the flat RSS after oversized frames (docs/reliability.md).
@Suite struct MemoryTuningTests {
    /// After a 3 MiB block is freed, a 1 MiB block must still get its own mapping (and so go
    /// back to the OS when freed). glibc's dynamic threshold would have risen to 3 MiB and put
    /// it in an arena instead: this test fails without the pin.
    @Test func largeBlocksStayMappedAfterALargerOneIsFreed() throws {
        #expect(MemoryTuning.pinMmapThreshold(environment: [:]))
        for _ in 0..<3 {
            let big = try #require(malloc(3 << 20))
            memset(big, 1, 3 << 20)
            free(big)
        }
        let medium = try #require(malloc(1 << 20))
        defer { free(medium) }
        #expect(cmalloc_chunk_is_mmapped(medium) == 1)
        let small = try #require(malloc(1024))
        defer { free(small) }
        #expect(cmalloc_chunk_is_mmapped(small) == 0, "the probe tells arena chunks from mapped ones")
    }

    /// An operator's own `GLIBC_TUNABLES` threshold wins.
    @Test func anOperatorsTunableIsLeftAlone() {
        #expect(!MemoryTuning.pinMmapThreshold(environment: ["GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"]))
        #expect(MemoryTuning.pinMmapThreshold(environment: ["GLIBC_TUNABLES": "glibc.malloc.arena_max=2"]))
    }
}
