import ArgumentParser
import SealKit
import SealSourceCore
import UnsealAgent
import VaultCLI

struct Rewrap: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-encrypt the stored key material under the seal's configured key, or copy it to another seal.",
        discussion: HelpText.prose("""
            rewrap --config agent.hcl [--seal awskms]
              After kms_key_id (or the Azure key) moves to a new key, or the Transit key is rotated
              (--seal transit): decrypts the file with the key
              that made it (recorded in the file) and writes it again under the configured key,
              atomically — the material never reaches a terminal, and a crash leaves the old file
              or the new one, each of which unseals.

            rewrap --config agent.hcl --from file --to awskms
              Migration between sources: copies the material from one seal block to another (both
              in the configuration), then reads it back from the new one and compares. The old
              source is left as it is: remove its block (and its file) once the agent unseals from
              the new one. A destination that already holds other material is refused.

            Runbook: docs/operations.md.
            """)
    )

    @Option(name: .long, help: "The configuration file.") var config: String
    @Option(name: .long, help: "The seal block (its type) to rewrap in place.") var seal: String?
    @Option(name: .long, help: "Migration: the seal block (type) to copy from.") var from: String?
    @Option(name: .long, help: "Migration: the seal block (type) to copy to.") var to: String?

    func run() async throws {
        let configuration = try await loadConfiguration(config)
        func storing(_ kind: String) throws -> any StoringSealSource {
            guard let source = configuration.sources.first(where: { $0.kind == kind }) as? any StoringSealSource else {
                throw CommandFailure("no seal \"\(kind)\" block that can store material in \(config)", exitCode: 2)
            }
            return source
        }
        do {
            if from != nil || to != nil {
                guard let from, let to, from != to else { throw CommandFailure("give both --from and --to, two different seal blocks", exitCode: 2) }
                let source = try storing(from), destination = try storing(to)
                let material = try await source.fetch()
                if case .alreadyHeld(let held) = try await destination.storeIfAbsent(material), held != material {
                    throw CommandFailure("\(destination.name) already holds other key material; it was left as it is (remove it first if it is not in use)", exitCode: 2)
                }
                guard try await destination.fetch() == material else {
                    throw CommandFailure("\(destination.name) did not give back what was stored: keep using \(source.name)", exitCode: 1)
                }
                print("copied from \(source.name) to \(destination.name) and read back; \(source.name) is unchanged: remove its seal block once the agent unseals from \(destination.name)")
                return
            }
            let source = try seal.map(storing) ?? {
                guard let first = configuration.sources.first(where: { $0 is any StoringSealSource && $0.kind != "file" }) as? any StoringSealSource else {
                    throw CommandFailure("no KMS seal block to rewrap in \(config) (rewrap renews a seal's encryption; a seal \"file\" holds the key in the clear)", exitCode: 2)
                }
                return first
            }()
            let material = try await source.fetch()
            try await source.replace(with: material)
            guard try await source.fetch() == material else {
                throw CommandFailure("\(source.name) did not give back what was written: check its key before the agent needs it", exitCode: 1)
            }
            print("rewrapped \(source.localPath ?? source.name) under \(source.name)")
        } catch let error as SealSourceError {
            throw CommandFailure(error.message, exitCode: error.errorClass == .retryable ? 1 : 2)
        }
    }
}
