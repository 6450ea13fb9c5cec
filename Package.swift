// swift-tools-version:6.0
//
// vaultd, unseal-agent and vaultctl. One module per concern (docs/ARCHITECTURE.md);
// the executables are thin wrappers over library modules.
import Foundation
import PackageDescription

// The executables export no dynamic symbols. `--static-swift-stdlib` (the release build of
// docs/deploy-systemd.md) links with `-export-dynamic`, which puts ~25,000 symbols of the
// package's own modules in the dynamic symbol table; every process then maps that table
// (about 1 MB of the agent's resident memory, docs/BENCHMARKS.md). Nothing dlopens these
// executables or looks their symbols up, and Swift's backtracer reads the symbol table from
// the file. Release only: the debug build is the tests' and keeps the defaults.
let noExportedSymbols: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "--no-export-dynamic"], .when(platforms: [.linux], configuration: .release)),
]

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
    // Exact versions: an application pins what it ships (Package.resolved is not committed,
    // so these are the pins). Their own dependencies (swift-asn1, swift-collections, …) resolve
    // within the ranges these versions declare. Bump deliberately, with a full test run.
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", exact: "1.5.0"),
    ],
    targets: [
        // C shims for the few system calls Swift cannot import directly (variadic prctl,
        // explicit_bzero, madvise flags).
        .target(name: "CVaultSystem"),

        // The one error shape (DomainError: a Code, a message, file and line) and the one
        // classification of failures (FailureClass: retryable, needs a fix, …). No dependencies.
        .target(name: "ErrorKit"),

        // FoundationEssentials and the little the agent's modules need beyond it (loose JSON,
        // trimming, UTC timestamps, child processes, threads), so the agent never links the
        // full Foundation and ICU (docs/BENCHMARKS.md: about 4 MB of resident memory).
        .target(name: "LeanFoundation"),

        // Seal key, BIP39, validation hash, Shamir, secret memory. No I/O.
        .target(
            name: "SealKit",
            dependencies: [
                "LeanFoundation", "CVaultSystem", "ErrorKit",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        // The wire contract between the vault and its clients: Vault's sys API (seal status,
        // init, unseal, health, leader, errors) and vaultd's resource answers as Codable types,
        // and the request-body reader the server validates them with. vaultd encodes them;
        // VaultClient, the agent and vaultctl decode them. FoundationEssentials only.
        .target(name: "VaultWire", dependencies: ["LeanFoundation", "SealKit", "ErrorKit"]),

        // Durable replacement of small files (key files, envelopes, tokens): write, fsync,
        // rename or link, fsync the directory.
        .target(name: "DurableFile", dependencies: ["LeanFoundation"]),

        // The configuration language: HCL as Vault users write it, and its JSON form.
        .target(name: "HCL", dependencies: ["LeanFoundation", "ErrorKit"]),

        // The vault itself: seal state machine, barrier encryption, tokens, vaults and secrets,
        // over the StorageBackend protocol. No network, no cloud SDKs.
        .target(
            name: "VaultCore",
            dependencies: [
                "LeanFoundation",
                "SealKit",
                "KeyKit",
                "ErrorKit",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Keys a vault holds: specs, generation, BIP39 seeds, BIP32/BIP44 derivation,
        // secp256k1 (on OpenSSL: BoringSSL lacks the curve), Keccak-256, EIP-55. No I/O.
        .systemLibrary(name: "COpenSSL", providers: [.apt(["libssl-dev"])]),
        .target(
            name: "KeyKit",
            dependencies: [
                "COpenSSL", "SealKit", "ErrorKit",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "VaultStorageSQLite",
            dependencies: ["VaultCore", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // Storage several vaultd nodes share: PostgreSQL through postgres-nio, with the
        // leadership lease that fences every write (docs/ARCHITECTURE.md, "High availability").
        .target(
            name: "VaultStoragePostgres",
            dependencies: [
                "VaultCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The snapshot file: a gzip'd tar (Vault's layout) of a manifest, every stored record and
        // their checksums, sealed under the seal key by the vault. Read by vaultd and vaultctl.
        .target(
            name: "VaultSnapshot",
            dependencies: [
                "LeanFoundation", "ErrorKit",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        // The audit log: `file` devices (options, the appending and reopening file), entries in
        // Vault's shape with tokens and values as HMAC-SHA256 under each device's key, and the
        // broker that fans an entry out and says whether any device recorded it. No vault logic.
        .target(
            name: "VaultAudit",
            dependencies: ["SealKit", "ErrorKit", .product(name: "Crypto", package: "swift-crypto")]
        ),

        // HTTP/1.1 listeners on SwiftNIO: unix sockets with peer credentials, TCP with TLS,
        // graceful shutdown. Shared by vaultd and the agent's telemetry endpoint.
        .target(
            name: "HTTPServerKit",
            dependencies: [
                "LeanFoundation", "CVaultSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // vaultd's HTTP side: listeners (unix socket with peer credentials, TCP with TLS), the
        // sys API and the resource API, configuration, logging, process hygiene.
        .target(
            name: "VaultServer",
            dependencies: [
                "VaultCore", "VaultWire", "VaultSnapshot", "VaultAudit", "DurableFile", "VaultStorageSQLite", "VaultStoragePostgres", "HCL", "SealKit", "KeyKit", "CVaultSystem", "HTTPServerKit", "HTTPTransport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),

        // Outbound HTTP/1.1 on SwiftNIO: deadlines, unix sockets, proxies, CA bundles.
        .target(
            name: "HTTPTransport",
            dependencies: [
                "LeanFoundation", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),

        // A client for Vault's sys API (vaultd, OpenBao, Vault) and vaultd's resource API.
        .target(name: "VaultClient", dependencies: ["HTTPTransport", "VaultWire"]),

        // AWS without an SDK: SigV4, credential providers, IMDS, KMS, and seal "awskms" beside
        // its client.
        .target(
            name: "AWSAuth",
            dependencies: ["LeanFoundation", "HTTPTransport", "SealKit", "SealSourceCore", "DurableFile", "ErrorKit", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // seal "gcpckms": Google Cloud KMS over REST, and Google's identities (no SDK).
        .target(
            name: "GCPAuth",
            dependencies: ["LeanFoundation", "HTTPTransport", "SealKit", "SealSourceCore",
                           .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto")]
        ),
        // seal "pkcs11": an HSM's key through its PKCS#11 module, loaded at run time (C in its own target).
        .target(name: "CPKCS11", linkerSettings: [.linkedLibrary("dl")]),
        .target(
            name: "PKCS11Seal",
            dependencies: ["CPKCS11", "LeanFoundation", "SealKit", "SealSourceCore", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // seal "transit": another Vault's Transit engine, and its token's renewal.
        .target(
            name: "TransitSeal",
            dependencies: ["LeanFoundation", "HTTPTransport", "SealKit", "SealSourceCore"]
        ),

        // Azure without an SDK: Entra ID tokens (client secret, certificate, workload and managed
        // identity), Key Vault secrets and keys, and seal "azurekeyvault" beside its client.
        .target(
            name: "AzureAuth",
            dependencies: [
                "LeanFoundation", "HTTPTransport", "SealKit", "SealSourceCore", "DurableFile", "ErrorKit", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // Where the agent gets key material, as go-kms-wrapping cuts it: the SealSource protocol and
        // its optional capability (StoringSealSource) in a module of their own, so code that
        // needs only the protocol links no cloud client; the local sources (file, env) here; the
        // cloud sources beside their clients (AWSAuth, AzureAuth).
        .target(name: "SealSourceCore", dependencies: ["LeanFoundation", "SealKit", "DurableFile", "ErrorKit"]),
        .target(name: "SealSources", dependencies: ["LeanFoundation", "SealKit", "DurableFile", "SealSourceCore"]),

        // The agent: targets, the watch loop, retry policy, autonomous init, telemetry.
        .target(
            name: "UnsealAgent",
            dependencies: [
                "LeanFoundation", "SealSources", "SealSourceCore", "DurableFile", "AWSAuth", "AzureAuth", "GCPAuth", "TransitSeal", "PKCS11Seal", "VaultClient", "VaultWire", "HTTPTransport", "HTTPServerKit", "HCL", "SealKit", "CVaultSystem",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),

        // Shared command-line plumbing: exit codes, one-line errors.
        .target(
            name: "VaultCLI",
            dependencies: [
                "LeanFoundation", "SealKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .executableTarget(
            name: "vaultctl",
            dependencies: [
                "VaultCLI", "VaultClient", "VaultWire", "VaultSnapshot", "HTTPTransport", "SealKit", "HCL", "DurableFile",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            linkerSettings: noExportedSymbols
        ),
        .executableTarget(
            name: "vaultd",
            dependencies: [
                "VaultCLI", "VaultServer", "HCL",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            linkerSettings: noExportedSymbols
        ),
        .executableTarget(
            name: "unseal-agent",
            dependencies: [
                "LeanFoundation", "VaultCLI", "UnsealAgent", "HCL", "AWSAuth", "GCPAuth", "TransitSeal", "PKCS11Seal", "SealSources", "SealSourceCore", "SealKit", "HTTPTransport", "VaultClient", "VaultWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            linkerSettings: noExportedSymbols
        ),

        // Helpers the test targets share: locating the package, the built executables and the
        // Python oracles (PyPI reference implementations installed by scripts/test).
        .target(name: "TestSupport", dependencies: ["HTTPTransport"], path: "Tests/TestSupport"),
        // Test doubles for the vault core (MemoryStorage), out of the production modules.
        .target(name: "VaultCoreTestSupport", dependencies: ["VaultCore"], path: "Tests/VaultCoreTestSupport"),
        // VaultClient's untyped calls, for tests that send bodies no client would.
        .target(name: "VaultClientTestSupport", dependencies: ["VaultClient", "LeanFoundation"], path: "Tests/VaultClientTestSupport"),
        .testTarget(
            name: "SealKitTests",
            dependencies: ["SealKit", "CVaultSystem", "TestSupport", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["Vectors"]
        ),
        .testTarget(
            name: "HCLTests",
            dependencies: ["HCL", "TestSupport"],
            exclude: ["Corpus", "Oracle"]
        ),
        .testTarget(name: "VaultWireTests", dependencies: ["VaultWire"]),
        .testTarget(name: "VaultSnapshotTests", dependencies: ["VaultSnapshot"]),
        .testTarget(name: "VaultAuditTests", dependencies: ["VaultAudit", "SealKit"]),
        .testTarget(name: "KeyKitTests", dependencies: ["KeyKit", "SealKit", "TestSupport"]),
        .testTarget(name: "VaultCoreTests", dependencies: ["VaultCore", "VaultCoreTestSupport", "VaultStorageSQLite", "VaultStoragePostgres", "SealKit", "KeyKit", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "LeanFoundationTests", dependencies: ["LeanFoundation"]),
        .testTarget(name: "UnsealAgentTests", dependencies: ["UnsealAgent", "SealSources", "SealSourceCore", "SealKit", "DurableFile", "HCL", "TestSupport"]),
        .testTarget(name: "VaultServerTests", dependencies: ["VaultServer", "VaultCore", "VaultWire", "HTTPServerKit", "HCL"]),
        .testTarget(name: "HTTPTransportTests", dependencies: ["HTTPTransport", "TestSupport"], exclude: ["Oracle"]),
        .testTarget(name: "AWSAuthTests", dependencies: ["AWSAuth", "TestSupport"], exclude: ["Oracle", "Vectors"]),
        .testTarget(name: "AzureAuthTests", dependencies: ["AzureAuth", "TestSupport"], exclude: ["Oracle"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["SealKit", "KeyKit", "VaultClient", "VaultClientTestSupport", "VaultWire", "HTTPTransport", "AWSAuth", "TestSupport", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["Oracle", "Golden"]
        ),
    ]
)

// libFuzzer targets (README: "Hostile input"), only when VAULTD_FUZZ is set: they have no main of their own
// (libFuzzer's is linked in with -sanitize=fuzzer), so an ordinary build leaves them out.
// scripts/fuzz builds and runs them; corpora are in Fuzz/Corpus/<target>.
if ProcessInfo.processInfo.environment["VAULTD_FUZZ"] != nil {
    package.targets.append(.target(name: "FuzzSupport", path: "Fuzz/FuzzSupport"))
    for (name, dependency) in [("FuzzHCL", "HCL"), ("FuzzSealKey", "SealKit"), ("FuzzSigV4", "AWSAuth"), ("FuzzSysAPI", "VaultWire")] {
        let extra: [Target.Dependency] = name == "FuzzSysAPI" ? ["VaultCore", "VaultCoreTestSupport"] : []
        package.targets.append(.executableTarget(name: name, dependencies: [.target(name: dependency), "FuzzSupport"] + extra, path: "Fuzz/\(name)"))
        package.products.append(.executable(name: name, targets: [name]))
    }
}
