import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import WSClient

// Measures how many messages per second a running binance-sim delivers: opens `connections`
// WebSocket connections to the USD-M port, each subscribing to every symbol's bookTicker,
// aggTrade, trade and depth@100ms streams, counts frames for `seconds`, prints one JSON line.
// Usage: sim-load <usdm-port> <connections> <seconds>

let arguments = CommandLine.arguments
guard arguments.count == 4, let port = Int(arguments[1]), let connections = Int(arguments[2]), let seconds = Int(arguments[3]) else {
    print("usage: sim-load <usdm-port> <connections> <seconds>")
    exit(2)
}
let symbols = ["btcusdt", "ethusdt", "solusdt"]
let streams = symbols.flatMap { ["\($0)@bookTicker", "\($0)@aggTrade", "\($0)@trade", "\($0)@depth@100ms"] }
let counter = Atomic<Int>(0)
let logger = Logger(label: "sim-load")
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let deadline = ContinuousClock.now.advanced(by: .seconds(seconds + 1))

try await withThrowingTaskGroup(of: Void.self) { tasks in
    for _ in 0..<connections {
        tasks.addTask {
            var configuration = WebSocketClientConfiguration()
            configuration.maxFrameSize = 1 << 22
            try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/stream?streams=\(streams.joined(separator: "/"))", configuration: configuration, eventLoopGroup: group, logger: logger) { inbound, outbound, _ in
                for try await _ in inbound {
                    counter.add(1, ordering: .relaxed)
                    if ContinuousClock.now > deadline { break }
                }
                try await outbound.close(.normalClosure, reason: nil)
            }
        }
    }
    // Count only the steady state: skip the first second.
    try await Task.sleep(for: .seconds(1))
    let start = counter.load(ordering: .relaxed)
    let clock = ContinuousClock.now
    try await Task.sleep(for: .seconds(seconds))
    let received = counter.load(ordering: .relaxed) - start
    let elapsed = clock.duration(to: .now)
    let secondsElapsed = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print("{\"connections\":\(connections),\"messages\":\(received),\"seconds\":\(secondsElapsed),\"rate\":\(Int(Double(received) / secondsElapsed))}")
    try await tasks.waitForAll()
}
