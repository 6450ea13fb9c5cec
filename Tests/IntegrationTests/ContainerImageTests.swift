import Foundation
import TestSupport
import Testing

/// Where `scripts/build-images` leaves its OCI layouts.
private let builtImages = TestEnvironment.packageRoot.appendingPathComponent(".build/images")

/// The container images `scripts/build-images` makes (scripts/test runs it, debug build): each
/// OCI layout is unpacked here as a runtime would, and what it holds is checked — a non-root
/// user, no shell, the names the Kubernetes manifests run — then its binaries run from the
/// unpacked trees, and vaultd and the agent start from them as the StatefulSet starts them.
@Suite("deployment: container images",
       .enabled(if: getuid() == 0 && (ProcessInfo.processInfo.environment["REQUIRE_ORACLES"] == "1"
                                       || FileManager.default.fileExists(atPath: builtImages.appendingPathComponent("vaultd/index.json").path)),
                "needs root (chroot, mounts) and the images: run scripts/test (it runs scripts/build-images)"))
struct ContainerImageTests {
    static let directory = builtImages
    static let images = ["vaultd": ["vaultd", "vaultctl"], "unseal-agent": ["unseal-agent"]]

    /// The parts of an OCI layout this test reads (image-spec 1.0: index, manifest, config).
    struct Index: Decodable {
        struct Entry: Decodable { let digest: String; let annotations: [String: String]? }
        let manifests: [Entry]
    }
    struct Manifest: Decodable {
        struct Descriptor: Decodable { let mediaType: String; let digest: String }
        let config: Descriptor
        let layers: [Descriptor]
    }
    struct Configuration: Decodable {
        struct Process: Decodable {
            let User: String?
            let Entrypoint: [String]?
            let Cmd: [String]?
        }
        let config: Process
    }

    struct Image {
        let name: String
        let process: Configuration.Process
        let tree: URL
    }

    static func blob(_ layout: URL, _ digest: String) -> URL {
        layout.appendingPathComponent("blobs/sha256/\(digest.replacingOccurrences(of: "sha256:", with: ""))")
    }

    /// Unpacks `.build/images/<image>` into `work/<image>`: its layers in order, as root, so
    /// owners and modes are the image's.
    static func unpack(_ image: String, into work: URL) async throws -> Image {
        let layout = directory.appendingPathComponent(image)
        let index = try JSONDecoder().decode(Index.self, from: Data(contentsOf: layout.appendingPathComponent("index.json")))
        let entry = try #require(index.manifests.first, "\(image): an empty index")
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: blob(layout, entry.digest)))
        let configuration = try JSONDecoder().decode(Configuration.self, from: Data(contentsOf: blob(layout, manifest.config.digest)))
        let tree = work.appendingPathComponent(image)
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        for layer in manifest.layers {
            #expect(layer.mediaType.hasPrefix("application/vnd.oci.image.layer.v1.tar"), "\(layer.mediaType)")
            let untar = try await TestEnvironment.run("/usr/bin/tar", ["-xpf", blob(layout, layer.digest).path, "-C", tree.path, "--same-owner"])
            guard untar.status == 0 else { throw TestSupportError("unpacking \(image): \(untar.stderr)") }
        }
        return Image(name: entry.annotations?["org.opencontainers.image.ref.name"] ?? "", process: configuration.config, tree: tree)
    }

    /// The StatefulSet's containers (image, args, user) and the ConfigMaps' files, read with
    /// PyYAML from the manifests as they are in the repository.
    struct Deployment: Decodable {
        struct Container: Decodable { let name: String; let image: String; let args: [String]; let runAsUser: Int; let runAsGroup: Int }
        let containers: [Container]
        let files: [String: String]
    }

    static func deployment() async throws -> Deployment {
        let k8s = TestEnvironment.packageRoot.appendingPathComponent("k8s/base")
        let code = """
            import json, sys, yaml
            pod = yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]
            containers = [{"name": c["name"], "image": c["image"], "args": c["args"],
                           "runAsUser": c["securityContext"]["runAsUser"], "runAsGroup": c["securityContext"]["runAsGroup"]}
                          for c in pod["initContainers"] + pod["containers"]]
            files = {name: text for doc in yaml.safe_load_all(open(sys.argv[2])) for name, text in doc["data"].items()}
            print(json.dumps({"containers": containers, "files": files}))
            """
        let result = try await TestEnvironment.runOracle(code, arguments: [k8s.appendingPathComponent("statefulset.yaml").path,
                                                                            k8s.appendingPathComponent("configmaps.yaml").path], input: "")
        guard result.status == 0 else { throw TestSupportError("reading k8s/base: \(result.stderr)") }
        return try JSONDecoder().decode(Deployment.self, from: Data(result.stdout.utf8))
    }

    static func workDirectory() throws -> URL {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("images-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        return work
    }

    @Test("each image: a non-root user, no shell, the name and arguments the StatefulSet uses; its binaries run from the unpacked tree")
    func contents() async throws {
        let work = try Self.workDirectory()
        defer { SecretLedger.removeDirectory(work) }
        let deployment = try await Self.deployment()
        let version = try await TestEnvironment.run(TestEnvironment.executable("vaultd"), ["version"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").last.map(String.init) ?? ""
        for (image, binaries) in Self.images.sorted(by: { $0.key < $1.key }) {
            let unpacked = try await Self.unpack(image, into: work)
            let container = try #require(deployment.containers.first { $0.name == image }, "no container \(image) in statefulset.yaml")
            // What the build produced is what the manifests pull, at the binaries' version.
            #expect(unpacked.name == container.image, "\(image): built \(unpacked.name), the StatefulSet runs \(container.image)")
            #expect(unpacked.name.hasSuffix("/\(image):\(version)"), "\(unpacked.name) is not tagged \(version)")
            #expect(unpacked.process.User == "\(container.runAsUser):\(container.runAsGroup)", "\(image): USER \(unpacked.process.User ?? "none")")
            #expect(unpacked.process.Cmd == container.args, "\(image): CMD \(unpacked.process.Cmd ?? []) against args \(container.args)")
            #expect(unpacked.process.Entrypoint == ["/usr/bin/\(image)"])
            for shell in ["bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/bash", "bin/busybox", "usr/bin/env"] {
                #expect(!FileManager.default.fileExists(atPath: unpacked.tree.appendingPathComponent(shell).path), "\(image) has \(shell)")
            }
            let owner = try FileManager.default.attributesOfItem(atPath: unpacked.tree.appendingPathComponent("var/lib/\(image)").path)
            #expect((owner[.ownerAccountID] as? NSNumber)?.intValue == container.runAsUser, "\(image): /var/lib/\(image) is not its user's")
            for binary in binaries {
                // chroot: nothing of this machine is visible, so every library must be in the tree.
                // A runtime always mounts /proc (Swift reads the arguments from /proc/self/cmdline).
                let run = try await TestEnvironment.run("/usr/bin/unshare", [
                    "--mount", "--propagation", "private", "sh", "-c",
                    #"mkdir -p "$1/proc" && mount -t proc proc "$1/proc" && exec env -i /usr/sbin/chroot --userspec="$2" "$1" "/usr/bin/$3" --version"#,
                    "-", unpacked.tree.path, "\(container.runAsUser):\(container.runAsGroup)", binary])
                #expect(run.status == 0 && run.stdout == "\(version)\n", "\(image): \(binary) --version: \(run.stdout)\(run.stderr)")
            }
        }
    }

    @Test("vaultd and the agent from the unpacked images, as the StatefulSet runs them: init, then a restart the agent unseals")
    func unsealFromImages() async throws {
        let work = try Self.workDirectory()
        defer { SecretLedger.removeDirectory(work) }
        let deployment = try await Self.deployment()
        for image in Self.images.keys {
            let unpacked = try await Self.unpack(image, into: work)
            let command = (unpacked.process.Entrypoint ?? []) + (unpacked.process.Cmd ?? [])
            try command.joined(separator: " ").write(to: work.appendingPathComponent("\(image).command"), atomically: true, encoding: .utf8)
        }
        for (name, text) in deployment.files {
            try text.write(to: work.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        // The guide's first step: vaultctl key generate --output unseal-key.
        let key = work.appendingPathComponent("unseal-key")
        let generate = try await TestEnvironment.run(TestEnvironment.executable("vaultctl"), ["key", "generate", "--output", key.path])
        #expect(generate.status == 0, "\(generate.stderr)")
        SecretLedger.record([try String(contentsOf: key, encoding: .utf8)])

        let script = TestEnvironment.packageRoot.appendingPathComponent("Tests/IntegrationTests/Oracle/container_images.sh").path
        let run = try await TestEnvironment.run("/usr/bin/unshare", ["--mount", "--pid", "--net", "--fork", "--mount-proc", "--propagation", "private", "sh", script, work.path])
        if let initialised = try? JSONDecoder().decode([String: AnyToken].self, from: Data(contentsOf: work.appendingPathComponent("init.json"))) {
            SecretLedger.record(initialised.values.compactMap(\.text))
        }
        let log = { (name: String) in (try? String(contentsOf: work.appendingPathComponent("\(name).log"), encoding: .utf8)) ?? "" }
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)\nvaultd:\n\(log("vaultd").suffix(3000))\nagent:\n\(log("unseal-agent").suffix(3000))")
        #expect(run.stdout.contains("vaultd up, sealed, as Uid: 10001 10001 10001 10001"), "\(run.stdout)")
        #expect(run.stdout.contains("restarted and unsealed by the agent"))
        #expect(run.stdout.contains("agent as Uid: 10002 10002 10002 10002"), "\(run.stdout)")
        #expect(run.stdout.contains("10001:10001 600"), "vault.db: \(run.stdout)")
        // The agent's JSON log (log_format = "json" in the ConfigMap) says it unsealed.
        #expect(log("unseal-agent").contains("unsealed"), "\(log("unseal-agent"))")
    }

    /// A JSON value of `vaultctl operator init -format=json` kept only when it is a string (the
    /// root token); lists and numbers are decoded and dropped.
    struct AnyToken: Decodable {
        let text: String?
        init(from decoder: Decoder) throws { text = try? decoder.singleValueContainer().decode(String.self) }
    }
}
