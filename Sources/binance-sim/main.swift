import ArgumentParser
import BinanceSimulator
import BridgeCore
import Dispatch
import Foundation
import Yams

/// `binance-sim`: a Binance USD-M / COIN-M futures market-data exchange on loopback.
///
/// The command line is an interface users script against: flag names are stable.
@main
struct BinanceSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "binance-sim",
        abstract: "A Binance USD-M / COIN-M futures market-data simulator (WebSocket streams + REST).",
        discussion: """
            Each market serves its WebSocket streams (/ws, /stream, and on USD-M the /public and \
            /market routes) and its REST API (/fapi/v1 on the USD-M port, /dapi/v1 on the COIN-M \
            port) on one port. Runs until SIGTERM or SIGINT, then exits 0. Settings come from \
            --config (YAML, keys as the flags with underscores) and flags; flags win.
            """,
        version: BridgeVersion.current
    )

    @Option(help: "USD-M port (WebSocket + /fapi REST); 0 picks a free port.") var usdmPort: Int?
    @Option(help: "COIN-M port (WebSocket + /dapi REST); 0 picks a free port.") var coinmPort: Int?
    @Option(help: "Admin HTTP port: GET /status, POST /faults/… (docs/simulator.md); 0 picks a free port. None unless given.") var adminPort: Int?
    @Option(help: "Address to listen on.") var host: String?
    @Option(help: "Write {\"usdm\": N, \"coinm\": N, \"admin\": N} to this file once listening (admin null without --admin-port).") var portsFile: String?
    @Option(help: "Seed of the market: the same seed gives the same books, trades and ids.") var seed: UInt64?
    @Option(help: "Comma-separated symbols to trade (default: BTCUSDT,ETHUSDT,SOLUSDT,BTCUSD_PERP,ETHUSD_PERP,BTCUSD_261225).") var symbols: String?
    @Option(help: "Add N synthetic USD-M perpetuals X0000USDT… (0 to 5000) to the symbols, for tests with thousands of streams.") var syntheticSymbols: Int?
    @Option(help: "Exchange actions per second per symbol (book updates and trades; --trade-ratio of them are trades).") var rate: Double?
    @Option(help: "Exchange actions per second across all symbols of both markets, split evenly; overrides --rate.") var aggregateRate: Double?
    @Option(help: "Share of exchange actions that are trades, 0 to 1 (default 0.2).") var tradeRatio: Double?
    @Option(help: "Liquidations per second per symbol on forceOrder streams, 0 to 1: Binance pushes at most one per symbol per second (default 0.2).") var liquidationsPerSecond: Double?
    @Option(name: .customLong("stream-rate"), parsing: .singleValue, help: ArgumentHelp(
        "Rate of one stream type, in messages per second per symbol, e.g. aggTrade=200, depth=800, ticker=2 (repeatable).",
        discussion: "aggTrade|trade: trades; depth: book changes besides trades (bookTicker pushes when one moves the top); forceOrder: 0 to 1; ticker|miniTicker, kline (every kind), contractInfo: pushes per second, at most 100. Replaces its part of --rate/--aggregate-rate and --trade-ratio.",
        valueName: "type=N"
    )) var streamRate: [String] = []
    @Option(help: "Period of the simulated !contractInfo pushes, one per symbol, e.g. 60s, 5m (default 60s).") var contractInfoInterval: String?
    @Option(help: "Connection lifetime, e.g. 24h, 90s, 500ms (Binance: 24h).") var lifetime: String?
    @Option(help: "Period of the market clock, 1ms to 1s (default 10ms): each tick's events carry its scheduled time and leave together.") var tick: String?
    @Option(help: "Server ping period (Binance: 3m).") var pingInterval: String?
    @Option(help: "Close a connection that has not answered a ping within this (Binance: 10m).") var pongTimeout: String?
    @Option(help: "Streams per connection before error 4 and a 1008 close.") var maxStreams: Int?
    @Option(help: "Incoming messages per second per connection before a 1008 close.") var maxMsgsPerSecond: Int?
    @Flag(help: "USD-M: acknowledge a stream on the wrong route, then keep it silent (as Binance does).") var silentWrongRoute = false
    @Option(help: "WebSocket handshakes accepted per client address per --connection-attempt-window; more get HTTP 429.") var maxConnectionAttempts: Int?
    @Option(help: "Window of --max-connection-attempts, e.g. 5m.") var connectionAttemptWindow: String?
    @Option(help: "Write every message sent to this JSONL file (send time, market, stream, connections, payload).") var groundTruth: String?
    @Option(help: "Replay a JSONL capture (the --ground-truth format) instead of simulating.") var replay: String?
    @Option(help: "Replay speed factor: 2 replays twice as fast as recorded.") var replaySpeed: Double?
    @Option(help: "Serve wss:// and https:// with this PEM certificate (scripts/gen-test-cert.sh makes one).") var tlsCert: String?
    @Option(help: "PEM private key for --tls-cert.") var tlsKey: String?
    @Option(help: "YAML configuration file (see config/binance-sim.yaml).") var config: String?

    func run() async throws {
        let configuration = try makeConfiguration()
        // Armed before anything can announce readiness: a SIGTERM sent right after the
        // "listening" line must not find the default action (or be discarded by SIG_IGN).
        let termination = TerminationSignal()
        let simulator = try await BinanceSimulator.start(configuration)
        let ports = simulator.ports
        if let portsFile {
            // The same three keys every time (admin null without --admin-port): scripts index it.
            let admin = ports.admin.map(String.init) ?? "null"
            let json = "{\"usdm\": \(ports.usdm), \"coinm\": \(ports.coinm), \"admin\": \(admin)}\n"
            try json.write(toFile: portsFile, atomically: true, encoding: .utf8)
        }
        let scheme = configuration.tls == nil ? "" : " (TLS)"
        print("binance-sim listening on \(configuration.host)\(scheme): usdm \(ports.usdm), coinm \(ports.coinm)\(ports.admin.map { ", admin \($0)" } ?? "") (seed \(configuration.seed))")
        fflush(nil)  // a script reading a pipe waits for this line: do not leave it buffered
        await termination.wait()
        await simulator.stop()
    }

    /// Defaults, then the YAML file, then flags.
    private func makeConfiguration() throws -> SimulatorConfiguration {
        var configuration = SimulatorConfiguration()
        var file: [String: Any] = [:]
        if let config {
            let text: String
            do { text = try String(contentsOfFile: config, encoding: .utf8) } catch {
                throw ValidationError("cannot read --config \(config): \(error.localizedDescription)")
            }
            guard let mapping = try Yams.load(yaml: text) as? [String: Any] else {
                throw ValidationError("\(config): the top level must be a mapping")
            }
            let known: Set<String> = ["usdm_port", "coinm_port", "host", "seed", "symbols", "rate", "lifetime", "tick", "ping_interval",
                                      "pong_timeout", "max_streams", "max_msgs_per_second", "silent_wrong_route",
                                      "admin_port", "max_connection_attempts", "connection_attempt_window", "ground_truth",
                                      "replay", "replay_speed", "tls_cert", "tls_key",
                                      "aggregate_rate", "trade_ratio", "synthetic_symbols", "liquidations_per_second", "contract_info_interval", "stream_rates"]
            if let unknown = mapping.keys.first(where: { !known.contains($0) }) {
                throw ValidationError("\(config): unknown setting \(unknown)")
            }
            file = mapping
        }
        func value<T>(_ flag: T?, _ key: String, _ convert: (Any) -> T?) throws -> T? {
            if let flag { return flag }
            guard let raw = file[key] else { return nil }
            guard let converted = convert(raw) else { throw ValidationError("\(config ?? ""): \(key): invalid value \(raw)") }
            return converted
        }
        // The file's stream rates first, so that any flag (--liquidations-per-second,
        // --contract-info-interval, a --stream-rate) wins over the file.
        if let raw = file["stream_rates"] {
            guard let mapping = raw as? [String: Any] else {
                throw ValidationError("\(config ?? ""): stream_rates must be a mapping of stream type to messages per second, e.g. {aggTrade: 200}")
            }
            try Self.apply(mapping.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") }, to: &configuration)
        }
        let int: (Any) -> Int? = { $0 as? Int ?? Int("\($0)") }
        let text: (Any) -> String? = { "\($0)" }
        configuration.usdmPort = try value(usdmPort, "usdm_port", int) ?? 0
        configuration.coinmPort = try value(coinmPort, "coinm_port", int) ?? 0
        configuration.host = try value(host, "host", text) ?? configuration.host
        configuration.seed = try value(seed, "seed") { UInt64("\($0)") } ?? configuration.seed
        let number: (Any) -> Double? = { Double("\($0)").flatMap { $0.isFinite ? $0 : nil } }
        configuration.rate = try value(rate, "rate", number) ?? configuration.rate
        configuration.aggregateRate = try value(aggregateRate, "aggregate_rate", number)
        configuration.tradeRatio = try value(tradeRatio, "trade_ratio", number) ?? configuration.tradeRatio
        configuration.liquidationsPerSecond = try value(liquidationsPerSecond, "liquidations_per_second", number) ?? configuration.liquidationsPerSecond
        configuration.maxStreamsPerConnection = try value(maxStreams, "max_streams", int) ?? configuration.maxStreamsPerConnection
        configuration.maxMessagesPerSecond = try value(maxMsgsPerSecond, "max_msgs_per_second", int) ?? configuration.maxMessagesPerSecond
        configuration.silentWrongRoute = silentWrongRoute || (file["silent_wrong_route"] as? Bool ?? false)
        configuration.adminPort = try value(adminPort, "admin_port", int)
        configuration.maxConnectionAttempts = try value(maxConnectionAttempts, "max_connection_attempts", int) ?? configuration.maxConnectionAttempts
        configuration.groundTruthPath = try value(groundTruth, "ground_truth", text)
        configuration.replayPath = try value(replay, "replay", text)
        configuration.replaySpeed = try value(replaySpeed, "replay_speed", number) ?? configuration.replaySpeed
        let certificate = try value(tlsCert, "tls_cert", text)
        let key = try value(tlsKey, "tls_key", text)
        switch (certificate, key) {
        case (let certificate?, let key?): configuration.tls = SimTLS(certificatePath: certificate, keyPath: key)
        case (nil, nil): break
        default: throw ValidationError("--tls-cert and --tls-key go together")
        }
        for (flag, key, path) in [
            (lifetime, "lifetime", \SimulatorConfiguration.lifetime), (tick, "tick", \.tickInterval), (pingInterval, "ping_interval", \.pingInterval), (pongTimeout, "pong_timeout", \.pongTimeout),
            (contractInfoInterval, "contract_info_interval", \.contractInfoInterval), (connectionAttemptWindow, "connection_attempt_window", \.connectionAttemptWindow),
        ] {
            if let raw = try value(flag, key, text) {
                guard let duration = Self.parseDuration(raw) else { throw ValidationError("\(key): expected a duration like 24h, 90s or 500ms, got \(raw)") }
                configuration[keyPath: path] = duration
            }
        }
        guard configuration.tickInterval >= .milliseconds(1), configuration.tickInterval <= .seconds(1) else {
            throw ValidationError("tick: expected 1ms to 1s, got \(configuration.tickInterval)")
        }
        try Self.apply(try streamRate.map { item in
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--stream-rate \(item): expected type=N, e.g. aggTrade=200") }
            return (parts[0], parts[1])
        }, to: &configuration)
        let chosen: [String]? = try value(symbols.map { $0.split(separator: ",").map(String.init) }, "symbols") { raw in
            (raw as? [Any])?.map { "\($0)" } ?? "\(raw)".split(separator: ",").map(String.init)
        }
        if let chosen {
            let universe = Dictionary(uniqueKeysWithValues: SimInstrument.defaults.map { ($0.symbol, $0) })
            configuration.instruments = try chosen.map { name in
                guard let instrument = universe[name.uppercased()] else {
                    throw ValidationError("unknown symbol \(name); available: \(SimInstrument.defaults.map(\.symbol).joined(separator: ", "))")
                }
                return instrument
            }
        }
        if let synthetic = try value(syntheticSymbols, "synthetic_symbols", { $0 as? Int }) {
            guard (0...5000).contains(synthetic) else { throw ValidationError("synthetic-symbols must be in 0…5000, got \(synthetic)") }
            configuration.instruments += SimInstrument.synthetic(synthetic)
        }
        guard configuration.rate > 0, configuration.maxStreamsPerConnection > 0, configuration.maxMessagesPerSecond > 0,
              configuration.maxConnectionAttempts > 0, configuration.replaySpeed > 0 else {
            throw ValidationError("rate, max-streams, max-msgs-per-second, max-connection-attempts and replay-speed must be positive")
        }
        if let port = configuration.adminPort, !(0...65535).contains(port) {
            throw ValidationError("admin-port must be in 0…65535, got \(port)")
        }
        if let aggregate = configuration.aggregateRate, !(aggregate > 0) {
            throw ValidationError("aggregate-rate must be positive (exchange actions per second across all symbols), got \(aggregate)")
        }
        guard (0...1).contains(configuration.tradeRatio) else {
            throw ValidationError("trade-ratio must be between 0 and 1 (the share of exchange actions that are trades), got \(configuration.tradeRatio)")
        }
        guard (0...1).contains(configuration.liquidationsPerSecond) else {
            throw ValidationError("liquidations-per-second must be between 0 and 1: Binance pushes at most one liquidation per symbol per second, got \(configuration.liquidationsPerSecond)")
        }
        return configuration
    }

    /// Sets each `(type, messages per second)` stream rate.
    static func apply(_ rates: [(String, String)], to configuration: inout SimulatorConfiguration) throws {
        for (type, raw) in rates {
            guard let perSecond = Double(raw) else { throw ValidationError("stream rate \(type)=\(raw): expected a number of messages per second") }
            do { try configuration.setStreamRate(type, perSecond: perSecond) } catch { throw ValidationError(error.description) }
        }
    }

    /// `24h`, `3m`, `90s`, `500ms`, or a plain number of seconds.
    static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if suffix == "s", text.hasSuffix("ms") { continue }
            guard let number = Double(text.dropLast(suffix.count)), number > 0 else { return nil }
            return .milliseconds(Int64(number * scale * 1000))
        }
        guard let seconds = Double(text), seconds > 0 else { return nil }
        return .milliseconds(Int64(seconds * 1000))
    }
}

/// SIGTERM or SIGINT, caught from the moment this is made until the process ends; `wait`
/// returns at once if one already arrived.
final class TerminationSignal: @unchecked Sendable {
    // @unchecked: `signalled` and `waiter` are only touched on the serial `queue`.
    private let queue = DispatchQueue(label: "binance-sim.signals")
    private var signalled = false
    private var waiter: CheckedContinuation<Void, Never>?
    private var sources: [any DispatchSourceSignal] = []

    init() {
        for number in [SIGTERM, SIGINT] {
            // The dispatch source sees the signal; SIG_IGN keeps the default action (exit
            // without draining) from running as well.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [unowned self] in
                signalled = true
                waiter?.resume()
                waiter = nil
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Suspends until SIGTERM or SIGINT (returns at once if one came already).
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { [self] in
                if signalled { continuation.resume() } else { waiter = continuation }
            }
        }
    }
}
