// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "vigil",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vigil", targets: ["vigil"]),
        .executable(name: "vigil-bench", targets: ["VigilBench"]),
    ],
    traits: [
        // The OTLP exporter (swift-otel, over HTTP). Off by default: swift-otel and SwiftProtobuf
        // add minutes to a first build, and without it Vigil's spans go nowhere (a no-op tracer).
        // `swift build --traits OTLP` builds it; README.md, Tracing.
        .trait(name: "OTLP", description: "Export traces over OTLP/HTTP with swift-otel (VIGIL_OTLP_ENDPOINT)"),
        .default(enabledTraits: []),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        // Up to the next minor only: VigilSQLite calls the SQLite that sqlite-nio embeds through its
        // C target (VaporCSQLite), which is not a declared product (see SQLiteHandle.swift).
        .package(url: "https://github.com/vapor/sqlite-nio.git", .upToNextMinor(from: "1.13.2")),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        // The console: operators' passwords (bcrypt) and its server-rendered pages.
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // Built only with the OTLP trait; its own gRPC exporter stays off.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        .target(
            name: "VigilCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "VigilQueue",
            dependencies: [
                "VigilCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strict
        ),
        // The driver-free store: records, the storage protocols, and the SQL both backends share.
        .target(
            name: "VigilStore",
            dependencies: [
                "VigilCore", "VigilQueue",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "VigilSQLite",
            dependencies: [
                "VigilCore", "VigilQueue", "VigilStore",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "VigilPostgres",
            dependencies: [
                "VigilCore", "VigilQueue", "VigilStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "VigilProviders",
            dependencies: [
                "VigilCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "VigilFlow",
            dependencies: [
                "VigilCore", "VigilQueue", "VigilStore", "VigilProviders",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "VigilServer",
            dependencies: [
                "VigilCore", "VigilQueue", "VigilStore", "VigilSQLite", "VigilPostgres", "VigilProviders", "VigilFlow",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel", condition: .when(traits: ["OTLP"])),
            ],
            // The console's templates and assets are compiled into the binary: nothing to ship
            // beside it, nothing to find at run time.
            resources: ConsoleResources.embedded,
            swiftSettings: strict
        ),
        .executableTarget(
            name: "vigil",
            dependencies: [
                "VigilServer", "VigilStore", "VigilCore", "VigilSQLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // Benchmarks (scripts/bench.sh, release build); not part of the test suite.
        .executableTarget(
            name: "VigilBench",
            dependencies: [
                "VigilCore", "VigilQueue", "VigilStore", "VigilSQLite", "VigilPostgres", "VigilFlow",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "VigilTests",
            dependencies: [
                "VigilCore", "VigilQueue", "VigilStore", "VigilSQLite", "VigilPostgres", "VigilProviders", "VigilFlow",
                "VigilServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strict
        ),
    ]
)

/// The console's files (Sources/VigilServer/Console/Resources), each embedded in the binary as
/// `PackageResources.<name>`.
enum ConsoleResources {
    static let files = [
        "layout.mustache", "sign-in.mustache", "overview.mustache", "orders.mustache", "order.mustache",
        "review.mustache", "tasks.mustache", "audit.mustache", "customer.mustache", "message.mustache",
        "console.css", "console.js",
    ]
    static var embedded: [Resource] { files.map { .embedInCode("Console/Resources/\($0)") } }
}
