// swift-tools-version:6.1
// Strata's fuzz targets (Tests/Fuzz/Sources/FuzzTargets) and their driver, `strata-fuzz`, a package of its own so
// that the main package's builds never see `@testable` imports. `make fuzz` builds it with libFuzzer's coverage
// instrumentation and AddressSanitizer (Tools/fuzz/run.sh); `make test` replays every corpus through the same
// targets (the root package's FuzzCorpusTests compiles these files too).
import PackageDescription

let package = Package(
    name: "StrataFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "Strata", path: "../..")],
    targets: [
        .target(name: "FuzzTargets", dependencies: [
            .product(name: "NATSProtocol", package: "Strata"), .product(name: "NATSConfig", package: "Strata"),
            .product(name: "StreamStore", package: "Strata"), .product(name: "Consumers", package: "Strata"),
            .product(name: "Broker", package: "Strata"), .product(name: "Zstd", package: "Strata"),
            .product(name: "LMDB", package: "Strata"), .product(name: "Platform", package: "Strata"),
            .product(name: "DynamicJSON", package: "Strata"), .product(name: "Subjects", package: "Strata"),
        ]),
        .executableTarget(name: "strata-fuzz", dependencies: ["FuzzTargets"]),
    ],
    swiftLanguageModes: [.v6]
)
