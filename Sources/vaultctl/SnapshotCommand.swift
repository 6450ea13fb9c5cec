import ArgumentParser
import DurableFile
import Foundation
import VaultCLI
import VaultClient
import VaultSnapshot
import VaultWire

/// `vaultctl operator snapshot save|restore|inspect`: backups of a vault's whole storage,
/// through the same paths as `bao operator raft snapshot` (vaultd serves them on any storage).
struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Save, restore and inspect snapshots of a vault's storage.",
        discussion: HelpText.prose("""
            A snapshot is one consistent copy of every record (they stay encrypted) with checksums
            sealed under the vault's seal key. Saving and restoring need the root token. A restore
            replaces everything the vault holds in one transaction; a damaged, truncated or foreign
            file is refused before anything changes. Runbook: docs/operations.md.
            """),
        subcommands: [Save.self, Restore.self, Inspect.self]
    )

    struct Save: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a snapshot and write it to FILE (mode 0600, replaced atomically).",
            discussion: "The file is checked before it is written: a transfer cut short never replaces a good backup."
        )
        @OptionGroup var server: ServerOptions
        @Argument(help: "Where to write the snapshot.") var file: String

        func run() async throws {
            let client = try server.client()
            let body = try await perform {
                let (status, body) = try await client.exchange("GET", "/v1/sys/storage/raft/snapshot", timeout: .seconds(300))
                guard status == 200 else { throw VaultClient.APIError(status: status, body: body) }
                return body
            }
            let opened: Snapshot.Opened
            do { opened = try Snapshot.open(body) } catch {
                throw CommandFailure("the vault sent a snapshot that does not check: \(error.message); \(file) was not written")
            }
            do { try AtomicFile.write(body, to: file, mode: 0o600) } catch {
                throw CommandFailure("cannot write \(file): \(error)")
            }
            print("Snapshot saved to \(file): \(opened.snapshot.manifest.entries) records, \(body.count) bytes, vault \(opened.snapshot.manifest.clusterName).")
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace everything the vault holds with the snapshot in FILE.",
            discussion: HelpText.prose("""
                Refused, with nothing changed, when the file is damaged or truncated, or — without
                --force — when it was made under another seal key or of another vault. After a
                forced restore under another seal key the vault is sealed and unseals only with
                that snapshot's seal key. Exit codes: 0 restored, 2 refused, 1 error.
                """)
        )
        @OptionGroup var server: ServerOptions
        @Flag(name: [.long, .customLong("force", withSingleDash: true)], help: "Also restore a snapshot of another vault or seal key.")
        var force = false
        @Argument(help: "The snapshot file.") var file: String

        func run() async throws {
            let bytes = try SnapshotCommand.read(file)
            do { _ = try Snapshot.open(bytes) } catch {
                throw CommandFailure("\(file): \(error.message); nothing was sent to the vault", exitCode: 2)
            }
            let client = try server.client()
            let path = "/v1/sys/storage/raft/snapshot" + (force ? "-force" : "")
            let body = try await perform {
                let (status, body) = try await client.exchange("POST", path, body: bytes, timeout: .seconds(300))
                if status == 413 {
                    throw CommandFailure("the snapshot is \(bytes.count) bytes, more than the vault's listener accepts: raise max_request_size in its listener block", exitCode: 2)
                }
                guard status == 200 || status == 204 else { throw VaultClient.APIError(status: status, body: body) }
                return body
            }
            if let answer = WireJSON.decode(WarningsResponse.self, from: body) {
                for warning in answer.warnings { FileHandle.standardError.write(Data("Warning: \(warning)\n".utf8)) }
            }
            print("Snapshot restored from \(file).")
        }
    }

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check FILE's checksums and print what it holds; no vault needed.",
            discussion: "The sealed copy of the checksums can only be checked by a vault holding the seal key (restore does)."
        )
        @OptionGroup var outputFormat: OutputFormat
        var json: Bool { outputFormat.json }
        @Argument(help: "The snapshot file.") var file: String

        func run() async throws {
            let opened: Snapshot.Opened
            do { opened = try Snapshot.open(try SnapshotCommand.read(file)) } catch let error as SnapshotError {
                throw CommandFailure("\(file): \(error.message)", exitCode: 2)
            }
            let manifest = opened.snapshot.manifest
            if json {
                try printJSON(manifest)
                return
            }
            var kinds = [String: Int]()
            for entry in opened.snapshot.entries {
                kinds[String(entry.key.split(separator: "/").first ?? ""), default: 0] += 1
            }
            print("""
                Created          \(manifest.createdAt)
                Cluster name     \(manifest.clusterName)
                Cluster ID       \(manifest.clusterID)
                Validation hash  \(manifest.validationHash)
                Storage          \(manifest.storageType)
                vaultd version   \(manifest.vaultdVersion)
                Records          \(manifest.entries) (\(kinds.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")))
                Checksums        ok (SHA256SUMS); the sealed copy is checked by the vault at restore
                """)
        }
    }

    static func read(_ file: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CommandFailure("cannot read \(file)", exitCode: 2)
        }
        return Array(data)
    }
}
