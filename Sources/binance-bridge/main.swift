import ArgumentParser
import Bridge
import BridgeCore
import Foundation
import Logging

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
        subcommands: [Run.self, CheckConfig.self],
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
    func load() throws -> BridgeConfiguration {
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
