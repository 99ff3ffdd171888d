import BinanceStreams
import BridgeCore
import Foundation
import Logging
import Synchronization

// Frames per second through BinanceStreamPool from a running binance-sim into a draining
// consumer, and this process's CPU time per frame (user + system, getrusage).
// Usage: pool-throughput <usdm-port> <seconds> <symbols,comma,separated> [nio|swiftWebSocket]
// Subscribes bookTicker, aggTrade, trade and depth@100ms of each symbol (two routes → two
// connections), waits for confirmation, then counts messages for <seconds>. Prints one JSON line.

let arguments = CommandLine.arguments
guard arguments.count == 4 || arguments.count == 5, let port = Int(arguments[1]), let seconds = Double(arguments[2]), seconds > 0, seconds <= 600 else {
    print("usage: pool-throughput <usdm-port> <seconds ≤ 600> <symbols>")
    exit(2)
}
let symbols = arguments[3].lowercased().split(separator: ",").map(String.init)
let streams = symbols.flatMap { ["\($0)@bookTicker", "\($0)@aggTrade", "\($0)@trade", "\($0)@depth@100ms"] }

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

var logger = Logger(label: "pool-throughput")
logger.logLevel = .warning
let endpoint = BinanceEndpoint(market: .usdm, webSocketBase: "ws://127.0.0.1:\(port)", restBase: "http://127.0.0.1:\(port)")
var configuration = StreamPoolConfiguration()
configuration.outputBufferCapacity = 1 << 16
var connection = BinanceConnectionSettings(url: "")
if arguments.count == 5 {
    guard let transport = BinanceTransport(rawValue: arguments[4]) else { print("transport: nio or swiftWebSocket"); exit(2) }
    connection.transport = transport
}
let pool = BinanceStreamPool(endpoint: endpoint, configuration: configuration, connection: connection, logger: logger)
let driver = Task { await pool.run() }
/// Counts once the window opens; drains from the start, so messages that arrive while the
/// subscriptions are being confirmed are consumed too (not left to overflow the buffer).
final class Counter: @unchecked Sendable {
    // @unchecked: written only by the consumer task, read after it ends.
    var counting = false, messages = 0, bytes = 0, dropped = 0
}
let counter = Counter()
let window = Mutex<(start: ContinuousClock.Instant, end: ContinuousClock.Instant)?>(nil)
let consumer = Task {
    for await event in pool.events {
        guard let (_, end) = window.withLock({ $0 }) else { continue }
        switch event {
        case .message(let message):
            counter.messages += 1
            counter.bytes += message.bytes.readableBytes
        case .dropped(_, let count):
            counter.dropped += count
        case .lifecycle:
            break
        }
        if ContinuousClock.now >= end { break }
    }
}
_ = try pool.subscribe(streams)
let confirmDeadline = ContinuousClock.now + .seconds(30)
while pool.subscriptions.contains(where: { $0.state != "confirmed" }) {
    guard ContinuousClock.now < confirmDeadline else { print("not confirmed in 30 s"); exit(1) }
    try await Task.sleep(for: .milliseconds(20))
}
let start = ContinuousClock.now
let cpuStart = cpuSeconds()
let end = start + .milliseconds(Int64(seconds * 1000))
window.withLock { $0 = (start, end) }
await consumer.value
let messages = counter.messages, bytes = counter.bytes, dropped = counter.dropped
let elapsed = ContinuousClock.now - start
let wakeups = pool.driverWakeupCount
let cpu = cpuSeconds() - cpuStart
pool.close()
await driver.value
let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
print(#"{"messages":\#(messages),"seconds":\#(String(format: "%.3f", wall)),"messages_per_second":\#(Int(Double(messages) / wall)),"mbytes_per_second":\#(String(format: "%.1f", Double(bytes) / wall / 1e6)),"dropped":\#(dropped),"cpu_us_per_message":\#(String(format: "%.2f", cpu * 1e6 / Double(max(messages, 1)))),"cpu_cores":\#(String(format: "%.2f", cpu / wall)),"driver_wakeups":\#(wakeups)}"#)
