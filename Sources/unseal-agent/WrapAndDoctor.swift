import ArgumentParser
import AWSAuth
import GCPAuth
import LeanFoundation
import SealKit
import SealSourceCore
import PKCS11Seal
import SealSources
import TransitSeal
import UnsealAgent
import VaultCLI

struct Wrap: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encrypt key material with a KMS, Key Vault or Transit seal and write its ciphertext_path atomically.",
        discussion: HelpText.prose("""
            Reads the key material from standard input — a phrase, base64 or hex key, or a JSON list of
            shares — or generates a new seal key with --generate (its validation hash is printed; the key
            is not). Used to migrate from manual unseal (wrap the key you have) and to rotate the KMS key
            (change kms_key_id, wrap again with --replace). Autonomous init uses the same path.

            Material already in place is never overwritten without --replace: the file may hold the
            only copy of a key a vault is sealed with.
            """)
    )

    @Option(name: .long, help: "The configuration file.") var config: String
    @Option(name: .long, help: "Which seal block to use (its type: awskms, azurekeyvault, transit, file), when there are several.") var seal: String?
    @Flag(name: .long, help: "Generate a new seal key instead of reading one.") var generate = false
    @Flag(name: .long, help: "Overwrite material the seal already holds (KMS key rotation). Without it an existing file is kept and the command fails.") var replace = false

    func run() async throws {
        let configuration = try await loadConfiguration(config)
        let source = try Self.wrappingSource(configuration, seal: seal, config: config)
        var material: SealMaterial
        var hash: String?
        if generate {
            let key = try SealKey.generate()
            material = .key(key.phrase())
            hash = key.validationHash().description
        } else {
            guard let input = SecretInput.readStandardInput(), !input.isEmpty else {
                throw CommandFailure("give the key material on standard input, or --generate")
            }
            do { material = try SealMaterial(storedText: input) } catch { throw CommandFailure("standard input \(error.reason)") }
            if case .key(let text) = material, let key = try? SealKey(parsing: text) { hash = key.validationHash().description }
        }
        do {
            if replace {
                try await source.replace(with: material)
            } else if case .alreadyHeld = try await source.storeIfAbsent(material) {
                material = .key("")
                throw CommandFailure("\(source.name) already holds key material (\(source.localPath.map { "\($0) exists" } ?? "its secret exists")); it was left as it is. To overwrite it — rotating the KMS key, for instance — run wrap again with --replace", exitCode: 1)
            }
        } catch let error as SealSourceError {
            throw CommandFailure(error.message, exitCode: 1)
        }
        material = .key("")
        print("wrapped with \(source.name)")
        if let hash { print("validation_hash: \(hash)") }
    }
}

extension Wrap {
    /// The seal named by --seal; without it, the one seal that wraps (a KMS, Key Vault or
    /// Transit), and an error listing them when there are several.
    static func wrappingSource(_ configuration: AgentConfiguration, seal: String?, config: String) throws -> any StoringSealSource {
        let storing = configuration.sources.compactMap { $0 as? any StoringSealSource }
        if let seal {
            guard let source = storing.first(where: { $0.kind == seal }) else {
                throw CommandFailure("no seal \"\(seal)\" block that can wrap in \(config)", exitCode: 1)
            }
            return source
        }
        let wrapping = storing.filter { $0.kind != "file" }
        guard wrapping.count == 1, let only = wrapping.first else {
            throw CommandFailure(wrapping.isEmpty ? "no seal block that can wrap in \(config) (awskms, azurekeyvault or transit)"
                                 : "\(config) has several seals that wrap (\(wrapping.map(\.kind).joined(separator: ", "))): choose one with --seal", exitCode: 1)
        }
        return only
    }
}

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Diagnose the remote seals: AWS (credential chain, IMDS, a test Decrypt), Google Cloud KMS (identity, token, a test decrypt), Transit (the token's life) and PKCS#11 (module, token, key).",
        discussion: "Exit code 0 when the ciphertext decrypts, 1 otherwise."
    )

    @Option(name: .long, help: "The configuration file.") var config: String?

    func run() async throws {
        let configuration = try await loadConfiguration(config)
        var healthy = true
        let sources = configuration.sources.compactMap { $0 as? AWSKMSSealSource }
        let transit = configuration.sources.compactMap { $0 as? TransitSealSource }
        let hsms = configuration.sources.compactMap { $0 as? PKCS11SealSource }
        let google = configuration.sources.compactMap { $0 as? GCPKMSSealSource }
        if sources.isEmpty && transit.isEmpty && hsms.isEmpty && google.isEmpty { print("no seal \"awskms\", \"gcpckms\", \"transit\" or \"pkcs11\" configured") }
        for source in sources {
            print("seal \"awskms\" \(source.keyID) in \(source.region), endpoint \(source.client.endpoint)")
            let started = ContinuousClock.now
            do {
                let credentials = try await source.chain?.credentials()
                let elapsed = ContinuousClock.now - started
                print("  credentials: \(credentials.map { "\($0)" } ?? "none") (in \(elapsed.milliseconds) ms)")
            } catch {
                healthy = false
                print("  credentials: FAILED after \((ContinuousClock.now - started).milliseconds) ms — \(error.message)")
            }
            for link in await source.chain?.report ?? [] {
                print("    \(link.skipped == nil ? "✔" : "·") \(link.name)\(link.skipped.map { ": \($0)" } ?? "")")
            }
            // IMDS is asked only when the chain (or the region lookup) reached it: never call
            // 169.254.169.254 off EC2 just to print a diagnosis.
            if let imds = await source.chain?.imds, await imds.diagnosis != .unknown {
                print("  IMDS (\(imds.endpoint)): \(await imds.diagnosis)")
            } else {
                print("  IMDS: not asked (an earlier link answered, or AWS_EC2_METADATA_DISABLED)")
            }
            if !(await Self.testDecrypt(source)) { healthy = false }
        }
        for source in transit where !(await Self.diagnose(source)) { healthy = false }
        for source in google {
            print("seal \"gcpckms\" \(source.client.keyName), identity: \(source.client.tokens.identity.description)")
            do {
                _ = try await source.client.tokens.token()
                print("  token: ok")
                if !(await Self.testDecrypt(source)) { healthy = false }
            } catch {
                healthy = false
                print("  token: FAILED — \(error.message)")
            }
        }
        for source in hsms {
            // One decrypt exercises the whole path: dlopen, the token, the PIN, the key.
            print("seal \"pkcs11\" key '\(source.settings.keyLabel)' (\(source.settings.mechanism.rawValue)) through \(source.settings.lib)")
            if !(await Self.testDecrypt(source)) { healthy = false }
        }
        if !healthy { throw ExitCode(1) }
    }
}

extension Doctor {
    /// Transit: the token (its life, whether the agent can renew it) and a test decrypt.
    static func diagnose(_ source: TransitSealSource) async -> Bool {
        print("seal \"transit\" \(source.name)")
        var healthy = true
        do {
            let state = try await source.client.lookupSelf()
            let life = state.ttl == 0 ? "does not expire" : "expires in \(state.ttl) s"
            let renewal = source.renewToken ? (state.renewable ? "renewable: the agent renews it" : "not renewable") : "renewal off (disable_renewal)"
            print("  token: \(life), \(renewal)")
            if state.ttl > 0 && !state.renewable && source.renewToken {
                print("  warning: when the token expires the agent cannot unseal: use a renewable or periodic token")
            }
        } catch {
            healthy = false
            print("  token: FAILED — \(error.message)")
        }
        return await testDecrypt(source) && healthy
    }
}

extension Doctor {
    /// One decrypt of the seal's file, as doctor prints it; false when it failed.
    static func testDecrypt(_ source: some EnvelopeSealSource) async -> Bool {
        do {
            switch try await source.fetch() {
            case .key: print("  decrypt \(source.ciphertextPath): ok (a key)")
            case .shares(let shares): print("  decrypt \(source.ciphertextPath): ok (\(shares.count) shares)")
            }
            return true
        } catch {
            print("  decrypt \(source.ciphertextPath): FAILED — \(error.message)")
            return false
        }
    }
}
