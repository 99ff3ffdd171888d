import ArgumentParser
import BinanceSimulator
import ServiceLifecycle
import Bridge
import BridgeCore
import Foundation
import Logging
import RedisClient

/// `binance-bridge`: Binance futures market data into Redis Streams.
@main
struct BinanceBridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "binance-bridge",
        abstract: "Streams Binance USD-M / COIN-M futures market data into Redis Streams.",
        discussion: """
            Settings come from the YAML file (--config PATH, default config/bridge.yaml), BRIDGE_* \
            environment variables and --key value flags; a flag overrides the environment, which \
            overrides the file. Every key is documented in config/bridge.yaml and the README.
            """,
        version: BridgeVersion.current,
        subcommands: [Run.self, CheckConfig.self, Ctl.self, Tail.self, Healthcheck.self, Demo.self, MallocProbe.self],
        defaultSubcommand: Run.self
    )
}

/// The settings flags, passed through to the configuration loader, which knows every key.
struct SettingsArguments: ParsableArguments {
    @Argument(
        parsing: .allUnrecognized,
        help: ArgumentHelp("Settings as --key value, e.g. --redis-url redis://127.0.0.1:6379/0, and --config PATH.", valueName: "settings")
    )
    var settings: [String] = []

    /// Loads the configuration or exits with status 2 after one line on standard error.
    func load() throws -> BridgeConfiguration { try Self.load(settings) }

    /// ``load()`` for settings given as `--key value` words.
    static func load(_ settings: [String]) throws -> BridgeConfiguration {
        do {
            return try BridgeConfigurationLoader.load(arguments: settings, environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

extension BinanceBridgeCommand {
    /// Runs the bridge (the default subcommand).
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the bridge until SIGTERM or SIGINT.")

        @OptionGroup var settings: SettingsArguments

        func run() async throws {
            MemoryTuning.pinMmapThreshold(environment: ProcessInfo.processInfo.environment)
            let configuration = try settings.load()
            // A peer that resets a socket must surface as EPIPE on that socket, never as a
            // process-killing SIGPIPE (RedisClient already sends with MSG_NOSIGNAL).
            signal(SIGPIPE, SIG_IGN)
            BridgeApplication.bootstrapObservability(logLevel: Logger.Level(rawValue: configuration.log.level.rawValue) ?? .info)
            let logger = Logger(label: "binance-bridge")
            do {
                try await BridgeApplication.run(configuration: configuration, logger: logger)
            } catch {
                logger.critical("binance-bridge failed", metadata: ["bridge.error": "\(error)"])
                throw ExitCode(1)
            }
        }
    }

    /// Validates the configuration and prints the effective settings (API key redacted).
    struct CheckConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-config",
            abstract: "Validate the configuration and print the effective settings."
        )

        @OptionGroup var settings: SettingsArguments

        func run() async throws {
            let configuration = try settings.load()
            print(configuration.redactedSettingsDescription)
        }
    }
}

extension BinanceBridgeCommand {
    /// Hidden: prints `mapped` or `arena`, where a 1 MiB block lands after 3 MiB blocks were
    /// freed, with the start-up pin (or without, `--no-pin`), in a process of its own
    /// (MemoryTuningTests; docs/reliability.md).
    struct MallocProbe: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "malloc-probe", shouldDisplay: false)
        @Flag(name: .customLong("no-pin"), help: "Leave glibc's dynamic threshold on.") var noPin = false

        func run() throws {
            if !noPin { MemoryTuning.pinMmapThreshold(environment: ProcessInfo.processInfo.environment) }
            guard let mapped = MemoryTuning.largeBlockStaysMappedAfterALargerOneIsFreed() else { throw ExitCode(2) }
            print(mapped ? "mapped" : "arena")
        }
    }
}

/// Where Redis is: the same settings as `run` (file, environment, flags), of which `ctl` and
/// `tail` use `redis.*`.
struct RedisArguments: ParsableArguments {
    @Option(help: "Configuration file (default: config/bridge.yaml when it exists).")
    var config: String?
    @Option(name: .customLong("redis-url"), help: "Redis URL (overrides BRIDGE_REDIS_URL and the file).")
    var redisURL: String?
    @Option(name: .customLong("redis-prefix"), help: "Key prefix (overrides BRIDGE_REDIS_PREFIX and the file).")
    var redisPrefix: String?

    func load() throws -> BridgeConfiguration {
        var settings: [String] = []
        if let config { settings += ["--config", config] }
        if let redisURL { settings += ["--redis-url", redisURL] }
        if let redisPrefix { settings += ["--redis-prefix", redisPrefix] }
        return try SettingsArguments.load(settings)
    }
}

extension BinanceBridgeCommand {
    /// Sends one control command to a running bridge and prints its reply.
    struct Ctl: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a control command to a running bridge and print the reply.",
            discussion: ControlClient.usage + """

                Exit status: 0 on an ok reply, 1 on an error reply, 3 when no bridge listens or \
                no reply comes within --timeout, 2 on a configuration error, 64 on bad words.
                """
        )

        @OptionGroup var redis: RedisArguments
        @Option(help: "usdm or coinm (default usdm).") var market: String?
        @Option(help: "Seconds to wait for the reply.") var timeout: Double = 5
        @Argument(help: "The command, e.g. subscribe btcusdt@aggTrade ethusdt@depth@100ms") var words: [String] = []

        func run() async throws {
            let command: [String: JSONValue]
            do {
                command = try ControlClient.command(words, market: market, id: Int.random(in: 1...1_000_000))
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(error.exitCode)
            }
            let configuration = try redis.load()
            let connection = RedisConnection(configuration: try BridgeApplication.redisConfiguration(configuration))
            defer { Task { await connection.close() } }
            do {
                let reply = try await ControlClient(redis: connection, prefix: configuration.redis.prefix)
                    .send(command, timeout: .milliseconds(Int64(max(0.1, timeout) * 1000)))
                print(reply.text)
                if reply["ok"] != .bool(true) { throw ExitCode(1) }
            } catch let failure as ControlClient.Failure {
                FileHandle.standardError.write(Data("binance-bridge ctl: \(failure)\n".utf8))
                throw ExitCode(failure.exitCode)
            } catch let error as RedisClientError {
                FileHandle.standardError.write(Data("binance-bridge ctl: \(error)\n".utf8))
                throw ExitCode(3)
            }
        }
    }

    /// Follows streams and prints their entries.
    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow streams (XREAD BLOCK) and print each entry on one line; gap and status markers highlighted.",
            discussion: "Streams by Binance name (btcusdt@aggTrade) in --market, or by whole key (binance:usdm:btcusdt@aggTrade)."
        )

        @OptionGroup var redis: RedisArguments
        @Option(help: "usdm or coinm (default usdm).") var market: String = "usdm"
        @Flag(name: .customLong("from-start"), help: "Print what the streams already hold first.") var fromStart = false
        @Option(help: "Stop after this many entries (default: until interrupted).") var count: Int?
        @Argument(help: "Streams to follow.") var streams: [String]

        func validate() throws {
            guard !streams.isEmpty else { throw ValidationError("name at least one stream, e.g. tail btcusdt@aggTrade") }
            guard market == "usdm" || market == "coinm" else { throw ValidationError("--market is usdm or coinm, got \(market)") }
        }

        func run() async throws {
            let configuration = try redis.load()
            let prefix = configuration.redis.prefix
            let keys = streams.map { $0.hasPrefix(prefix + ":") ? $0 : "\(prefix):\(market):\($0)" }
            let connection = RedisConnection(configuration: try BridgeApplication.redisConfiguration(configuration))
            defer { Task { await connection.close() } }
            var tail = StreamTail(redis: connection, keys: keys, fromStart: fromStart)
            let color = isatty(STDOUT_FILENO) == 1
            var printed = 0
            while count.map({ printed < $0 }) ?? true {
                let entries: [StreamTail.Entry]
                do {
                    entries = try await tail.next()
                } catch {
                    FileHandle.standardError.write(Data("binance-bridge tail: \(error)\n".utf8))
                    throw ExitCode(3)
                }
                for entry in entries where count.map({ printed < $0 }) ?? true {
                    print(StreamTail.render(entry, color: color))
                    printed += 1
                }
                fflush(nil)  // every stream: a pipe reader sees each batch at once
            }
        }
    }

    /// Exit 0 when the bridge's /healthz answers (for container health checks).
    struct Healthcheck: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Exit 0 if http://HOST:PORT/healthz answers 2xx, else 1 (a container HEALTHCHECK).")

        @Option(help: "URL to probe (default: http://127.0.0.1:<http.port>/healthz from the settings).") var url: String?
        @OptionGroup var settings: SettingsArguments

        func run() async throws {
            let target = try url ?? "http://127.0.0.1:\(settings.load().http.port)/healthz"
            if await !HealthProbe.check(target) { throw ExitCode(1) }
        }
    }
}

extension BinanceBridgeCommand {
    /// The bridge against the built-in simulator, with a live view of the data in Redis.
    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the bridge against the built-in simulator and show the data flowing.",
            discussion: """
                Uses the Redis at BRIDGE_REDIS_URL when it answers, else starts a redis-server on a \
                free loopback port (stopped on exit). Subscribes --streams through the control \
                channel and shows, per stream, entries per second, receive-to-Redis lag, the last \
                price and gap markers: redrawn in place on a terminal, plain lines otherwise. \
                Ctrl-C (or --seconds) stops it cleanly.
                """
        )

        static let defaultStreams = ["btcusdt@aggTrade", "btcusdt@depth@100ms", "btcusdt@bookTicker", "ethusdt@aggTrade", "btcusdt@markPrice@1s"]

        @Option(help: "Stop after this many seconds (default: until Ctrl-C).") var seconds: Double?
        @Option(parsing: .upToNextOption, help: "USD-M streams to subscribe.") var streams: [String] = Demo.defaultStreams
        @Option(name: .customLong("redis-prefix"), help: "Key prefix.") var prefix = "binance"
        @Option(name: .customLong("http-port"), help: "Port of /metrics, /healthz, /readyz on 127.0.0.1 (0: any free port).") var httpPort = 0

        func run() async throws {
            MemoryTuning.pinMmapThreshold(environment: ProcessInfo.processInfo.environment)
            signal(SIGPIPE, SIG_IGN)
            BridgeApplication.bootstrapObservability(logLevel: .warning)  // the view owns stdout; warnings on stderr
            let logger = Logger(label: "binance-bridge-demo")
            var localRedis: LocalRedisServer?
            var redisURL = ProcessInfo.processInfo.environment["BRIDGE_REDIS_URL"] ?? "redis://127.0.0.1:6379/0"
            if await !Self.answers(redisURL) {
                Self.say("no Redis answers at \(redisURL): starting a local redis-server")
                let server = try await LocalRedisServer.start()
                Self.say("redis-server pid \(server.pid) on 127.0.0.1:\(server.port)")
                localRedis = server
                redisURL = server.url
            }
            let simulator: BinanceSimulator
            do {
                simulator = try await BinanceSimulator.start(SimulatorConfiguration())
            } catch {
                await localRedis?.stop()
                throw error
            }
            var configuration = BridgeConfiguration()
            configuration.redis.url = redisURL
            configuration.redis.prefix = prefix
            configuration.usdm = .init(webSocketURL: "ws://127.0.0.1:\(simulator.ports.usdm)", restURL: "http://127.0.0.1:\(simulator.ports.usdm)")
            configuration.coinm = .init(webSocketURL: "ws://127.0.0.1:\(simulator.ports.coinm)", restURL: "http://127.0.0.1:\(simulator.ports.coinm)")
            configuration.http.host = "127.0.0.1"
            configuration.http.port = httpPort
            let components = try BridgeComponents(configuration: configuration, logger: logger)
            let viewRedis = RedisConnection(configuration: try BridgeApplication.redisConfiguration(configuration))
            let header = "binance-bridge demo: simulator on 127.0.0.1:\(simulator.ports.usdm) (USD-M), Redis \(redisURL), prefix \(prefix) — Ctrl-C stops"
            let view = DemoView(
                redis: viewRedis, prefix: prefix, streams: streams, seconds: seconds, coordinator: components.coordinator,
                interactive: isatty(STDOUT_FILENO) == 1, header: header
            )
            Self.say(header)
            Task {
                let port = await components.http.boundPort()
                Self.say("metrics: http://127.0.0.1:\(port)/metrics   ready: http://127.0.0.1:\(port)/readyz")
            }
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: components.services.map { .init(service: $0) }
                        + [.init(service: view, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            var failure: (any Error)?
            do { try await group.run() } catch { failure = error }
            await components.close()
            await viewRedis.close()
            await simulator.stop()
            await localRedis?.stop()
            if let failure {
                FileHandle.standardError.write(Data("binance-bridge demo: \(failure)\n".utf8))
                throw ExitCode(1)
            }
            Self.say("demo stopped")
        }

        /// A line on standard output, unbuffered: `print` into a pipe waits for a full buffer,
        /// and the view's lines are written directly.
        static func say(_ line: String) {
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }

        /// Whether a Redis answers PING at `url` (within a short timeout).
        static func answers(_ url: String) async -> Bool {
            guard let parsed = try? RedisURL(parsing: url) else { return false }
            let connection = RedisConnection(configuration: RedisConnectionConfiguration(url: parsed, connectTimeout: .milliseconds(300), commandTimeout: .seconds(1)))
            defer { Task { await connection.close() } }
            return (try? await connection.send("PING")) != nil
        }
    }
}
