// swift-tools-version:6.0
// airlock: network access for local AI agents only through an authenticated libp2p relay.
// Module split and dependency direction are described in docs/architecture.md.
import PackageDescription


let package = Package(
    name: "airlock",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "airlock", targets: ["airlock"]),
    ],
    targets: [
        // C libraries from Debian, through pkg-config.
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium",
                       providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CNetlink", pkgConfig: "libnl-route-3.0",
                       providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]),
        // What Swift cannot call directly: _GNU_SOURCE syscalls, epoll, fork-then-exec.
        .target(name: "CAirlockShims"),

        .target(name: "AirlockCore"),
        .target(name: "AirlockCrypto", dependencies: ["AirlockCore", "CSodium"]),
        .target(name: "AirlockWire", dependencies: ["AirlockCore", "AirlockCrypto"]),
        .target(name: "AirlockIO", dependencies: ["AirlockCore", "AirlockCrypto", "AirlockWire", "CAirlockShims"]),
        .target(name: "AirlockNet", dependencies: ["AirlockCore", "CNetlink", "CAirlockShims"]),
        .target(name: "AirlockPolicy", dependencies: ["AirlockCore", "AirlockCrypto"]),
        .target(name: "AirlockRelay", dependencies: ["AirlockCore", "AirlockCrypto", "AirlockWire", "AirlockIO", "AirlockNet", "AirlockPolicy"]),
        .target(name: "AirlockAgent", dependencies: ["AirlockCore", "AirlockCrypto", "AirlockIO", "AirlockNet", "AirlockPolicy", "AirlockRelay", "CAirlockShims"]),
        .target(name: "AirlockCLI", dependencies: ["AirlockCore", "AirlockCrypto", "AirlockWire", "AirlockIO", "AirlockNet", "AirlockPolicy", "AirlockRelay", "AirlockAgent"]),
        .executableTarget(name: "airlock", dependencies: ["AirlockCLI"]),

        .testTarget(name: "AirlockCoreTests", dependencies: ["AirlockCore"]),
        .testTarget(name: "AirlockCryptoTests", dependencies: ["AirlockCrypto", "AirlockCore"]),
        .testTarget(name: "AirlockWireTests", dependencies: ["AirlockWire", "AirlockCrypto", "AirlockCore"]),
        .testTarget(name: "AirlockIOTests", dependencies: ["AirlockIO", "AirlockWire", "AirlockCrypto", "AirlockCore"]),
        .testTarget(name: "AirlockPolicyTests", dependencies: ["AirlockPolicy", "AirlockCore"]),
        .testTarget(name: "AirlockNetTests", dependencies: ["AirlockNet", "AirlockCore"]),
        .testTarget(name: "AirlockRelayTests", dependencies: ["AirlockRelay", "AirlockPolicy", "AirlockIO", "AirlockNet", "AirlockWire", "AirlockCrypto", "AirlockCore"]),
        .testTarget(name: "AirlockAgentTests", dependencies: ["AirlockAgent", "AirlockNet", "AirlockIO", "AirlockRelay", "AirlockWire", "AirlockCrypto", "AirlockCore"]),
        .testTarget(name: "AirlockCLITests", dependencies: ["AirlockCLI", "AirlockAgent", "AirlockCrypto", "AirlockPolicy", "AirlockCore"]),
    ],
    swiftLanguageModes: [.v6]
)
