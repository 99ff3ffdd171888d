#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CHiredis

/// A plain OS thread that runs one closure, for code that must block (hiredis calls, `poll`).
///
/// Blocking calls never run on Swift's cooperative pool (which has one thread per core, two
/// here) or on a NIO event loop: each Redis connection owns one of these threads.
struct DedicatedThread: Sendable {
    private let handle: pthread_t

    private final class Box {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Starts a thread named `name` (truncated to the kernel's 15 characters) running `body`.
    init(name: String, body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            #if os(Linux)
            chiredis_set_thread_name(String(box.name.prefix(15)))
            #endif
            box.body()
            return nil
        }, box)
        precondition(result == 0, "pthread_create failed with \(result)")
        self.handle = handle
    }

    /// Waits for the thread to finish. Call at most once, never from the thread itself.
    func join() {
        pthread_join(handle, nil)
    }
}

/// A wake-up signal that a blocked `poll` can watch next to a socket (Linux `eventfd`).
///
/// Any thread may ``signal()``; the owning thread includes ``fileDescriptor`` in its `poll`
/// set and calls ``drain()`` when it becomes readable. Signals coalesce.
final class WakeSignal: Sendable {
    let fileDescriptor: Int32

    init() {
        let fd = chiredis_eventfd()
        precondition(fd >= 0, "eventfd failed: errno \(errno)")
        fileDescriptor = fd
    }

    deinit {
        close(fileDescriptor)
    }

    /// Wakes the thread blocked on this signal (or makes its next `poll` return at once).
    func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(fileDescriptor, $0.baseAddress, 8) }
    }

    /// Blocks until signalled or until `timeout` (nil: forever) passes; consumes the signal.
    /// Returns true when signalled.
    @discardableResult
    func wait(timeout: Duration?) -> Bool {
        let deadline = timeout.map { ContinuousClock.now.advanced(by: $0) }
        while true {
            var descriptor = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
            var timeoutMs: Int32 = -1
            if let deadline {
                let remaining = ContinuousClock.now.duration(to: deadline)
                if remaining <= .zero { return false }
                timeoutMs = Int32(clamping: remaining.milliseconds + 1)
            }
            let ready = poll(&descriptor, 1, timeoutMs)
            if ready > 0 {
                drain()
                return true
            }
            if ready < 0 && errno != EINTR { return false }
        }
    }

    /// Consumes pending signals so the next `poll` blocks again.
    func drain() {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { read(fileDescriptor, $0.baseAddress, 8) }
    }
}
