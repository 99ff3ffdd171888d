import BinanceStreams
import BridgeCore
import Foundation
import Logging

// Frames per second through BinanceStreamPool from a running binance-sim into a draining
// consumer, and this process's CPU time per frame (user + system, getrusage).
// Usage: pool-throughput <usdm-port> <seconds> <symbols,comma,separated>
// Subscribes bookTicker, aggTrade, trade and depth@100ms of each symbol (two routes → two
// connections), waits for confirmation, then counts messages for <seconds>. Prints one JSON line.

let arguments = CommandLine.arguments
guard arguments.count == 4, let port = Int(arguments[1]), let seconds = Double(arguments[2]), seconds > 0, seconds <= 600 else {
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
let pool = BinanceStreamPool(endpoint: endpoint, configuration: configuration, logger: logger)
let driver = Task { await pool.run() }
_ = try pool.subscribe(streams)
let confirmDeadline = ContinuousClock.now + .seconds(30)
while pool.subscriptions.contains(where: { $0.state != "confirmed" }) {
    guard ContinuousClock.now < confirmDeadline else { print("not confirmed in 30 s"); exit(1) }
    try await Task.sleep(for: .milliseconds(20))
}

var messages = 0
var bytes = 0
var dropped = 0
let start = ContinuousClock.now
let cpuStart = cpuSeconds()
let end = start + .milliseconds(Int64(seconds * 1000))
let stopper = Task {
    try? await Task.sleep(until: end, clock: .continuous)
    pool.close()
}
for await event in pool.events {
    switch event {
    case .message(let message):
        messages += 1
        bytes += message.bytes.readableBytes
    case .dropped(_, let count):
        dropped += count
    case .lifecycle:
        break
    }
    if ContinuousClock.now >= end { break }
}
let elapsed = ContinuousClock.now - start
let wakeups = pool.driverWakeupCount
let cpu = cpuSeconds() - cpuStart
pool.close()
await driver.value
let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
print(#"{"messages":\#(messages),"seconds":\#(String(format: "%.3f", wall)),"messages_per_second":\#(Int(Double(messages) / wall)),"mbytes_per_second":\#(String(format: "%.1f", Double(bytes) / wall / 1e6)),"dropped":\#(dropped),"cpu_us_per_message":\#(String(format: "%.2f", cpu * 1e6 / Double(max(messages, 1)))),"cpu_cores":\#(String(format: "%.2f", cpu / wall)),"driver_wakeups":\#(wakeups)}"#)
_ = stopper
