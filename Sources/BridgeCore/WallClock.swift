#if canImport(Glibc)
import Glibc
#endif

/// The wall clock (`CLOCK_REALTIME`), for timestamps that leave the process: receive times,
/// send times, gap windows. State machines never read it: they take times as parameters.
public enum WallClock {
    /// Microseconds since the epoch.
    public static func microseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1_000
    }

    /// Milliseconds since the epoch.
    public static func milliseconds() -> Int64 {
        microseconds() / 1_000
    }
}
