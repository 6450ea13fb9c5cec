// swift-tools-version:6.0
//
// vaultd, unseal-agent and vaultctl. One module per concern (docs/DESIGN.md §9);
// the executables are thin wrappers over library modules.
import PackageDescription

let package = Package(
    name: "vaultd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "vaultd", targets: ["vaultd"]),
        .executable(name: "unseal-agent", targets: ["unseal-agent"]),
        .executable(name: "vaultctl", targets: ["vaultctl"]),
        .library(name: "SealKit", targets: ["SealKit"]),
        .library(name: "HCL", targets: ["HCL"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
    ],
    targets: [
        // C shims for the few system calls Swift cannot import directly (variadic prctl,
        // explicit_bzero, madvise flags).
        .target(name: "CSystem"),

        // Seal key, BIP39, validation hash, Shamir, secret memory. No I/O.
        .target(
            name: "SealKit",
            dependencies: [
                "CSystem",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        // The configuration language: HCL as Vault users write it, and its JSON form.
        .target(name: "HCL"),

        // Shared command-line plumbing: exit codes, one-line errors.
        .target(
            name: "VaultCLI",
            dependencies: [
                "SealKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .executableTarget(
            name: "vaultctl",
            dependencies: [
                "VaultCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "vaultd",
            dependencies: [
                "VaultCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "unseal-agent",
            dependencies: [
                "VaultCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Helpers the test targets share: locating the package, the built executables and the
        // Python oracles (PyPI reference implementations installed by scripts/test).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "SealKitTests",
            dependencies: ["SealKit", "TestSupport"],
            exclude: ["Vectors"]
        ),
        .testTarget(
            name: "HCLTests",
            dependencies: ["HCL", "TestSupport"],
            exclude: ["Corpus", "Oracle"]
        ),
        .testTarget(name: "IntegrationTests", dependencies: ["SealKit", "TestSupport"]),
    ]
)
