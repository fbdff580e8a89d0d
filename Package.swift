// swift-tools-version:6.2
import PackageDescription

// Dependencies point one way: SwitchboardCore (pure) ← Postgres ← SwitchboardStore ← SwitchboardWorker
// ← SwitchboardSending, SwitchboardWebhook ← SwitchboardProcesses (the composition root) ← switchboard.
// Libraries record metrics through swift-metrics; SwitchboardMetrics is the backend a process bootstraps.
let package = Package(
    name: "switchboard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "switchboard", targets: ["switchboard"]),
        .library(name: "Postgres", targets: ["Postgres"]),
        .library(name: "SwitchboardStore", targets: ["SwitchboardStore"]),
        .library(name: "SwitchboardWorker", targets: ["SwitchboardWorker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", .upToNextMinor(from: "1.8.0")),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", .upToNextMinor(from: "2.13.0")),
        .package(url: "https://github.com/swift-server/async-http-client.git", .upToNextMinor(from: "1.37.0")),
        // No default traits: the CLI reads its settings through swift-configuration itself.
        .package(
            url: "https://github.com/hummingbird-project/hummingbird.git", .upToNextMinor(from: "2.28.0"), traits: []),
        .package(url: "https://github.com/apple/swift-crypto.git", .upToNextMinor(from: "3.12.0")),
        // ConversationRelay: Twilio's side of a voice agent's turns over a WebSocket.
        .package(
            url: "https://github.com/hummingbird-project/hummingbird-websocket.git", .upToNextMinor(from: "2.8.1")),
        // Flags, then the environment, then defaults, through one reader (no file formats needed).
        .package(url: "https://github.com/apple/swift-metrics.git", .upToNextMinor(from: "2.13.0")),
        .package(url: "https://github.com/apple/swift-configuration.git", .upToNextMinor(from: "1.4.0"), traits: []),
        // A campaign import renders its next batch while the database inserts the last (AsyncChannel).
        .package(url: "https://github.com/apple/swift-async-algorithms.git", .upToNextMinor(from: "1.1.0")),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        .target(name: "SwitchboardCore"),

        // The metrics backend: Prometheus counters, gauges and histograms behind swift-metrics'
        // MetricsFactory; no I/O. Libraries record through swift-metrics, not through this.
        .target(
            name: "SwitchboardMetrics",
            dependencies: ["SwitchboardCore", .product(name: "CoreMetrics", package: "swift-metrics")]),
        .target(name: "Postgres", dependencies: ["CLibPQ"]),
        .target(name: "EmbeddedPostgres"),
        .target(
            name: "Twilio",
            dependencies: [
                "SwitchboardCore", .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Background services stopped gracefully (servers in the demo, the simulator, tests).
        .target(
            name: "ServiceTask",
            dependencies: [
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "TwilioSimulator",
            dependencies: [
                "SwitchboardCore", "Twilio", "ServiceTask",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "SwitchboardStore",
            dependencies: [
                "Postgres", "SwitchboardCore", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ],
            resources: [.embedInCode("Migrations")]
        ),
        .target(
            name: "SwitchboardWorker",
            dependencies: [
                "SwitchboardStore", "SwitchboardCore", "Postgres", "ServiceTask",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Event webhooks to the user's systems (issue 13): signing (Standard Webhooks style), the
        // retry schedule, and the `event.deliver` job handler.
        .target(
            name: "SwitchboardEvents",
            dependencies: [
                "SwitchboardCore", "SwitchboardStore", "SwitchboardWorker", "ServiceTask",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .target(
            name: "SwitchboardSending",
            dependencies: [
                "SwitchboardWorker", "SwitchboardStore", "SwitchboardCore", "Twilio", "Postgres", "ServiceTask",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "SwitchboardWebhook",
            dependencies: [
                "SwitchboardStore", "SwitchboardCore", "SwitchboardEvents", "Twilio", "Postgres", "SwitchboardMetrics",
                "ServiceTask",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The composition root: each process's services built once, for the CLI, the demo, the
        // benchmarks and the tests.
        .target(
            name: "SwitchboardProcesses",
            dependencies: [
                "SwitchboardWorker", "SwitchboardSending", "SwitchboardEvents", "SwitchboardWebhook",
                "SwitchboardStore", "Postgres",
                "Twilio",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "switchboard",
            dependencies: [
                "SwitchboardWorker", "SwitchboardStore", "SwitchboardCore", "Postgres", "EmbeddedPostgres",
                "SwitchboardSending", "Twilio", "TwilioSimulator", "SwitchboardWebhook", "SwitchboardMetrics",
                "ServiceTask", "SwitchboardProcesses", "SwitchboardEvents",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "TestSupport",
            dependencies: [
                "Postgres", "EmbeddedPostgres", "SwitchboardStore", "SwitchboardWorker", "SwitchboardCore",
                "ServiceTask", "SwitchboardProcesses", "SwitchboardSending",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Tests/TestSupport"
        ),
        // Runs the built `switchboard` executable as a subprocess, as users do.
        .testTarget(
            name: "CLITests",
            dependencies: ["TestSupport", "EmbeddedPostgres", "Postgres", "SwitchboardStore", "SwitchboardCore"]),
        // Pure: builds without PostgreSQL, Hummingbird or AsyncHTTPClient.
        .testTarget(
            name: "SwitchboardCoreTests",
            dependencies: [
                "SwitchboardCore", "SwitchboardMetrics", .product(name: "Metrics", package: "swift-metrics"),
            ]),
        .testTarget(
            name: "TwilioTests",
            dependencies: [
                "Twilio", "TwilioSimulator", "SwitchboardCore", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport", "EmbeddedPostgres"]),
        .testTarget(
            name: "SwitchboardEventsTests",
            dependencies: [
                "SwitchboardEvents", "SwitchboardCore", "SwitchboardStore", "SwitchboardWorker", "SwitchboardProcesses",
                "EmbeddedPostgres", "Postgres", "TestSupport", "Twilio",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "SwitchboardStoreTests",
            dependencies: ["SwitchboardStore", "SwitchboardCore", "Postgres", "TestSupport"]
        ),
        .testTarget(
            name: "SendingTests",
            dependencies: [
                "SwitchboardSending", "SwitchboardWorker", "SwitchboardStore", "SwitchboardCore", "Postgres",
                "TestSupport",
                "SwitchboardProcesses", "Twilio", "TwilioSimulator",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "WebhookTests",
            dependencies: [
                "SwitchboardWebhook", "SwitchboardEvents", "SwitchboardSending", "SwitchboardWorker",
                "SwitchboardStore", "SwitchboardCore",
                "SwitchboardProcesses", "Postgres", "TestSupport", "Twilio", "TwilioSimulator",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SwitchboardWorkerTests",
            dependencies: [
                "SwitchboardWorker", "SwitchboardStore", "SwitchboardCore", "Postgres", "TestSupport",
                "SwitchboardProcesses",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ]
)
