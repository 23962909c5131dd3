// swift-tools-version:6.1
// Strata: a NATS-compatible durable message broker whose heart is its own storage engine.
//
// Imports point one way: C shims -> C wrappers -> subjects -> storage -> protocol, config, auth -> broker -> executables.
import PackageDescription

// The per-message paths (parser, connection handler) are state machines touched by one thread at a time;
// Swift's dynamic exclusivity checks on their class properties cost ~20% of broker CPU (perf), so they are
// off for these two targets. Static checks remain.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

let package = Package(
    name: "Strata",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "NATSProtocol", targets: ["NATSProtocol"]),
        .library(name: "Consumers", targets: ["Consumers"]),
        .library(name: "Broker", targets: ["Broker"]),
        .executable(name: "strata-server", targets: ["strata-server"]),
        .library(name: "StreamStore", targets: ["StreamStore"]),
        .library(name: "Subjects", targets: ["Subjects"]),
        .library(name: "NATSConfig", targets: ["NATSConfig"]),
        .library(name: "Auth", targets: ["Auth"]),
        .executable(name: "strata", targets: ["strata"]),
        // (for the fuzz package in Tests/Fuzz)
        .library(name: "Zstd", targets: ["Zstd"]),
        .library(name: "LMDB", targets: ["LMDB"]),
        .library(name: "Platform", targets: ["Platform"]),
        .library(name: "DynamicJSON", targets: ["DynamicJSON"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // C shims over Debian's system libraries (liblmdb-dev, libzstd-dev).
        .systemLibrary(name: "CLMDB", path: "Sources/CLMDB", pkgConfig: "lmdb",
                       providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CCrypt", path: "Sources/CCrypt", pkgConfig: "libxcrypt",
                       providers: [.apt(["libcrypt-dev"])]),
        // Hardware CRC32C (SSE4.2) with a portable fallback.
        .target(name: "CCRC32C", path: "Sources/CCRC32C"),

        // Safe Swift wrappers that own the C resources.
        .target(name: "LMDB", dependencies: ["CLMDB"]),
        .target(name: "Zstd", dependencies: ["Platform", "CZstd"]),

        // What Strata takes from outside FoundationEssentials (so that no module needs Foundation and ICU):
        // pthread locks, conditions and threads, whitespace trimming, printf formatting.
        .target(name: "Platform"),
        // Untyped JSON reading and writing ([String: Any]), pure, for monitoring and the tool.
        .target(name: "DynamicJSON"),

        // Pure subject validation and wildcard matching.
        .target(name: "Subjects"),

        // The storage engine: segmented zstd log, LMDB indexes, retention, recovery, compaction.
        .target(name: "StreamStore", dependencies: ["Platform", "LMDB", "Zstd", "Subjects", "CCRC32C"]),

        // The consumer engine: a pure delivery/ack/redelivery state machine, clock injected, no I/O.
        .target(name: "Consumers", dependencies: ["Platform", "Subjects"]),

        // The NATS client protocol, pure: parser, encoder, options. ByteBuffer only, no sockets.
        .target(name: "NATSProtocol", dependencies: ["Platform", "DynamicJSON", "Subjects", .product(name: "NIOCore", package: "swift-nio")],
                swiftSettings: hotPath),

        // nats-server's configuration file format, pure: parser, values, typed readings. No dependencies.
        .target(name: "NATSConfig"),

        // Authentication and permissions, pure: users, tokens, bcrypt, NKeys, permission decisions.
        // Ed25519 comes from the BoringSSL inside swift-nio-ssl (CNIOBoringSSL), not from a second copy.
        .target(name: "Auth", dependencies: ["Platform", "Subjects", "CCrypt", .product(name: "NIOSSL", package: "swift-nio-ssl")]),

        // The server: connections, routing, keepalive, auth (SwiftNIO).
        .target(name: "Broker", dependencies: [
            "Platform", "DynamicJSON", "NATSProtocol", "Subjects", "StreamStore", "Consumers", "NATSConfig", "Auth",
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: hotPath),
        .executableTarget(name: "strata-server", dependencies: [
            "Broker", "Platform", .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),

        // The tool: offline inspect, verify, repair, compact (thin shells over StreamStore APIs), and online
        // commands against a running server over its own small client (NATSProtocol's parser).
        .executableTarget(name: "strata", dependencies: [
            "Platform", "DynamicJSON", "StreamStore", "NATSProtocol", "NATSConfig", "Auth", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], path: "Tools/strata"),

        .testTarget(name: "PlatformTests", dependencies: ["Platform"]),
        .testTarget(name: "DynamicJSONTests", dependencies: ["DynamicJSON", "Platform"]),
        .testTarget(name: "LMDBTests", dependencies: ["LMDB"]),
        .testTarget(name: "ZstdTests", dependencies: ["Zstd"]),
        .testTarget(name: "SubjectsTests", dependencies: ["Subjects"]),
        .testTarget(name: "NATSProtocolTests", dependencies: ["NATSProtocol"]),
        .testTarget(name: "AuthTests", dependencies: ["Auth"]),
        .testTarget(name: "ConsumersTests", dependencies: ["Consumers"]),
        .testTarget(name: "NATSConfigTests", dependencies: ["NATSConfig", "Platform"], resources: [.copy("Golden")]),
        .testTarget(name: "BrokerTests", dependencies: ["Broker", "StreamStore", "Consumers", "NATSProtocol", "strata-server",
                                                    .product(name: "NIOEmbedded", package: "swift-nio")]),
        // Every fuzz target over its kept corpus (Tests/Fuzz/Corpus): the target sources are the fuzz package's.
        .testTarget(name: "FuzzCorpusTests", dependencies: ["Broker", "StreamStore", "Consumers", "NATSProtocol", "NATSConfig",
                                                        "DynamicJSON", "Platform", "Zstd", "LMDB", "Subjects"],
                    path: "Tests/Fuzz", exclude: ["Package.swift", "Corpus", "Sources/strata-fuzz"],
                    sources: ["Sources/FuzzTargets", "Replay"]),
        .testTarget(name: "StreamStoreTests", dependencies: ["StreamStore", "LMDB", "strata"],
                    resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
