// swift-tools-version:6.1
// Storage benchmarks, a package of their own so the main build does not pay for them.
//   swift package benchmark                 package-benchmark suites (throughput, latency, allocations)
//   swift run -c release strata-bench       the figures of BENCHMARKS.md in one run
import Foundation
import PackageDescription

// A path dependency's identity is its directory's name, which is wherever the repository was cloned.
let strata = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "StrataBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .target(name: "BenchmarkWorkload", dependencies: [.product(name: "StreamStore", package: strata)]),
        .executableTarget(
            name: "StorageBenchmarks",
            dependencies: [
                "BenchmarkWorkload",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "StreamStore", package: strata),
            ],
            path: "Benchmarks/StorageBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "strata-bench",
            dependencies: ["BenchmarkWorkload", .product(name: "StreamStore", package: strata)]
        ),
    ]
)
