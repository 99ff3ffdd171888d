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
    ],
    targets: [
        .target(
            name: "BenchSupport",
            dependencies: [.product(name: "RedisClient", package: "binance-bridge")]
        ),
        .executableTarget(
            name: "xadd-throughput",
            dependencies: ["BenchSupport", .product(name: "RedisClient", package: "binance-bridge")]
        ),
        .executableTarget(
            name: "RedisXAdd",
            dependencies: [
                "BenchSupport",
                .product(name: "RedisClient", package: "binance-bridge"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/RedisXAdd",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
