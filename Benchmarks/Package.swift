// swift-tools-version:6.1
import PackageDescription

/// Benchmarks for binance-bridge, kept out of the main package so the library never depends
/// on the benchmark harness. Run: `swift package benchmark` here (see ../README.md).
let package = Package(
    name: "binance-bridge-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "binance-bridge", path: ".."),
        // The default trait pulls a package that is not on our mirror.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(
            name: "BenchTolerances",
            dependencies: [.product(name: "Benchmark", package: "benchmark")]
        ),
        .target(
            name: "BenchSupport",
            dependencies: [.product(name: "RedisClient", package: "binance-bridge")]
        ),
        .executableTarget(
            name: "xadd-throughput",
            dependencies: ["BenchSupport", .product(name: "RedisClient", package: "binance-bridge")]
        ),
        .executableTarget(
            name: "sim-load",
            dependencies: [
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "pool-throughput",
            dependencies: [
                .product(name: "BinanceStreams", package: "binance-bridge"),
                .product(name: "BridgeCore", package: "binance-bridge"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "RedisXAdd",
            dependencies: [
                "BenchTolerances",
                "BenchSupport",
                .product(name: "RedisClient", package: "binance-bridge"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/RedisXAdd",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Normalize",
            dependencies: [
                "BenchTolerances",
                .product(name: "BridgeCore", package: "binance-bridge"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/Normalize",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "OrderBook",
            dependencies: [
                "BenchTolerances",
                .product(name: "BridgeCore", package: "binance-bridge"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/OrderBook",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
