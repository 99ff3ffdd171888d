// swift-tools-version:6.1
import PackageDescription

/// binance-bridge: Binance USD-M / COIN-M futures market data into Redis Streams.
///
/// Modules are split by dependency weight (see `docs/architecture.md`):
/// `BridgeCore` is pure (no I/O), `CHiredis` + `RedisClient` are the only code that
/// touches hiredis, `BinanceStreams` talks to Binance, `Bridge` holds the services.
let package = Package(
    name: "binance-bridge",
    // swift-configuration's availability annotations need macOS 15; harmless on Linux.
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "BridgeCore", targets: ["BridgeCore"]),
        .library(name: "RedisClient", targets: ["RedisClient"]),
        .library(name: "BinanceStreams", targets: ["BinanceStreams"]),
        .library(name: "Bridge", targets: ["Bridge"]),
        .library(name: "BinanceSimulator", targets: ["BinanceSimulator"]),
        .executable(name: "binance-bridge", targets: ["binance-bridge"]),
        .executable(name: "binance-sim", targets: ["binance-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(
            url: "https://github.com/apple/swift-configuration",
            from: "1.4.0",
            traits: [.defaults, "YAML", "CommandLineArguments"]
        ),
        // Already in the graph through swift-configuration's YAML trait; used directly to
        // reject unknown keys and non-scalar values in the configuration file.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // TLS for the simulator's wss:// / https:// (already in the graph through swift-websocket).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // The WebSocket client (tests of the simulator today; the stream pool next).
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        // REST calls to Binance (exchangeInfo today, depth snapshots next): HTTP/1.1 and TLS
        // with timeouts, on the same NIO event loops as everything else.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Deque for the publisher's buffer (already in the graph through swift-nio).
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        // MARK: Pure core
        .target(
            name: "BridgeCore",
            swiftSettings: strictSettings
        ),

        // MARK: Redis
        // hiredis.pc adds `-D_FILE_OFFSET_BITS=64`, which SwiftPM rejects as a prohibited flag
        // (a warning on every clean build). The headers and library live in the default
        // search paths on Debian, so the modulemap links `hiredis` by name instead of
        // naming `pkgConfig: "hiredis"` here.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(
            name: "RedisClient",
            dependencies: ["CHiredis"],
            swiftSettings: strictSettings
        ),

        // MARK: Allocator
        // mallopt, which Swift's Glibc module does not export (MemoryTuning in Bridge).
        .target(name: "CMallocTuning"),

        // MARK: Binance
        .target(
            name: "BinanceStreams",
            dependencies: [
                "BridgeCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: Simulator
        .target(
            name: "BinanceSimulator",
            dependencies: [
                "BridgeCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: Services
        .target(
            name: "Bridge",
            dependencies: [
                "BridgeCore",
                "RedisClient",
                "BinanceStreams",
                "CMallocTuning",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: Executables
        .executableTarget(
            name: "binance-bridge",
            dependencies: [
                "Bridge",
                "BinanceSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "binance-sim",
            dependencies: [
                "BinanceSimulator",
                "BridgeCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: Tests
        .testTarget(name: "BridgeCoreTests", dependencies: ["BridgeCore"], swiftSettings: strictSettings),
        .target(
            name: "TestSupport",
            dependencies: ["RedisClient", "BinanceSimulator", "BridgeCore"],
            path: "Tests/TestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(name: "RedisClientTests", dependencies: ["RedisClient", "TestSupport"], swiftSettings: strictSettings),
        .testTarget(
            name: "BinanceStreamsTests",
            dependencies: [
                "BinanceStreams",
                "BinanceSimulator",
                "BridgeCore",
                "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BinanceSimulatorTests",
            dependencies: [
                "BinanceSimulator",
                "BridgeCore",
                "TestSupport",
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BridgeTests",
            dependencies: [
                "Bridge", "RedisClient", "BridgeCore", "TestSupport", "BinanceSimulator", "BinanceStreams",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)

/// Settings shared by every Swift target: Swift 6 mode is set package-wide; these add
/// upcoming features that make the code's intent explicit.
var strictSettings: [SwiftSetting] {
    [
        .enableUpcomingFeature("ExistentialAny"),
    ]
}
