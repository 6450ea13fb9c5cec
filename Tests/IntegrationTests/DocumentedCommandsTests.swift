import Foundation
import HTTPTransport
import TestSupport
import Testing

/// The install and first-start commands of the deployment guides, run verbatim (each block the
/// guide marks `<!-- test: NAME -->`) as root on a throwaway copy of this machine, so the docs
/// cannot drift from what works.
@Suite("deployment: the guides' commands")
struct DocumentedCommandsTests {
    static let root = TestEnvironment.packageRoot

    /// The fenced block that follows `<!-- test: NAME -->` in a guide.
    static func block(_ name: String, in guide: String) throws -> String {
        let text = try String(contentsOf: root.appendingPathComponent(guide), encoding: .utf8)
        guard let marker = text.range(of: "<!-- test: \(name) -->\n```sh\n"),
              let end = text.range(of: "\n```", range: marker.upperBound..<text.endIndex) else {
            throw TestSupportError("\(guide) has no block marked <!-- test: \(name) -->")
        }
        return String(text[marker.upperBound..<end.lowerBound]) + "\n"
    }

    /// A scratch machine's run: what it printed, its exit status, and where its changes are.
    struct Run {
        let work: URL
        let result: ProcessResult
        let changes: URL, logs: URL
        var output: String { result.stdout + result.stderr }
        func log(_ unit: String) -> String { (try? String(contentsOf: logs.appendingPathComponent("\(unit).log"), encoding: .utf8)) ?? "" }
    }

    /// Runs `scripts` (name, text) in order on a scratch copy of this machine, from a stage
    /// directory holding `files` (name → symlink target).
    static func onScratchMachine(_ scripts: [(String, String)], files: [String: String]) async throws -> Run {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("scratch-\(UUID().uuidString.prefix(6))")
        let stage = work.appendingPathComponent("stage"), out = work.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: stage, withIntermediateDirectories: true)
        for (name, target) in files {
            try FileManager.default.createSymbolicLink(atPath: stage.appendingPathComponent(name).path, withDestinationPath: target)
        }
        for (name, text) in scripts {
            try text.write(to: stage.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let harness = root.appendingPathComponent("Tests/IntegrationTests/Oracle/scratch_machine.sh").path
        let result = try await TestEnvironment.run(
            "/usr/bin/unshare", ["--mount", "--pid", "--net", "--fork", "--propagation", "private", "sh", harness, out.path, stage.path] + scripts.map(\.0))
        return Run(work: work, result: result, changes: out.appendingPathComponent("changes"), logs: out.appendingPathComponent("logs"))
    }

    static var canRun: Bool { getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-sysusers") }

    @Test("deploy-systemd.md: install, first start, init and the restart check, verbatim",
          .enabled(if: canRun, "needs root and systemd's tools (CI runs as root; scripts/test installs systemd)"))
    func systemdGuide() async throws {
        let guide = "docs/deploy-systemd.md"
        let inspect = """
            id unseal-agent
            stat -c '%a %U:%G %n' /etc/unseal-agent/unseal-key /etc/unseal-agent/agent.hcl /etc/vaultd/vaultd.hcl /var/lib/vaultd /var/lib/unseal-agent /run/vaultd /run/vaultd/vaultd.sock
            systemctl is-enabled vaultd.service unseal-agent.service
            systemctl is-active vaultd.service unseal-agent.service
            grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/$(cat /run/standin/vaultd.service.pid)/status
            """
        let run = try await Self.onScratchMachine(
            [("install.sh", try Self.block("systemd-install", in: guide)),
             ("first-start.sh", try Self.block("systemd-first-start", in: guide)),
             ("check.sh", try Self.block("systemd-check", in: guide)),
             ("inspect.sh", inspect)],
            files: ["vaultd": TestEnvironment.executable("vaultd"), "unseal-agent": TestEnvironment.executable("unseal-agent"),
                    "vaultctl": TestEnvironment.executable("vaultctl"), "systemd": Self.root.appendingPathComponent("systemd").path])
        defer { SecretLedger.removeDirectory(run.work) }
        #expect(run.result.status == 0, "\(run.output)\nvaultd:\n\(run.log("vaultd.service"))\nagent:\n\(run.log("unseal-agent.service"))")
        // The users from sysusers, the agent in the socket's group.
        #expect(run.output.contains(/uid=\d+\(unseal-agent\) gid=\d+\(unseal-agent\) groups=\d+\(unseal-agent\),\d+\(vaultd\)/))
        // Modes and owners from the guide, the units and tmpfiles.
        for line in ["600 root:root /etc/unseal-agent/unseal-key", "640 root:unseal-agent /etc/unseal-agent/agent.hcl",
                     "640 root:vaultd /etc/vaultd/vaultd.hcl", "700 vaultd:vaultd /var/lib/vaultd",
                     "700 unseal-agent:unseal-agent /var/lib/unseal-agent", "750 vaultd:vaultd /run/vaultd",
                     "660 vaultd:vaultd /run/vaultd/vaultd.sock"] {
            #expect(run.output.contains(line), "expected '\(line)'")
        }
        #expect(run.output.contains("enabled\nenabled\nactive\nactive"))
        // Enabled the way systemd would start them at boot.
        let wants = run.changes.appendingPathComponent("etc/systemd/system/multi-user.target.wants/vaultd.service").path
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: wants)) == "/etc/systemd/system/vaultd.service")
        // Both status checks passed (exit 0 = unsealed); the second unseal after the restart was the agent's.
        #expect(run.output.components(separatedBy: "Sealed           false").count - 1 == 2)
        let agentLog = run.log("unseal-agent.service")
        #expect(agentLog.components(separatedBy: "unsealed").count - 1 >= 1, "\(agentLog)")
        // The key is in no log.
        let phrase = try String(contentsOf: run.changes.appendingPathComponent("etc/unseal-agent/unseal-key"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(phrase.split(separator: " ").count == 24)
        #expect(!(run.output + agentLog + run.log("vaultd.service")).contains(phrase))
        // Started as the unit says: no capability in any set, no_new_privs.
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            #expect(run.output.contains("\(set):\t0000000000000000"), "\(set) of vaultd")
        }
        #expect(run.output.contains("NoNewPrivs:\t1"))
        if run.result.status != 0 { Self.recordTail(of: run) }
    }

    /// A failed run's last lines and the units' logs, recorded last: a CI log cut to its end
    /// still shows why.
    static func recordTail(of run: Run) {
        func tail(_ text: String) -> String { text.split(separator: "\n").suffix(15).joined(separator: "\n") }
        Issue.record("scratch machine exited \(run.result.status); its last lines:\n\(tail(run.output))\nvaultd.service:\n\(tail(run.log("vaultd.service")))\nunseal-agent.service:\n\(tail(run.log("unseal-agent.service")))")
    }

    @Test("deploy-ec2.md: the user data and the first-boot check, verbatim, with IMDS at 169.254.169.254 and moto as KMS",
          .enabled(if: canRun && TestEnvironment.shouldRunOracleTests("moto"), "needs root, systemd's tools and moto (scripts/test)"))
    func ec2Guide() async throws {
        let guide = "docs/deploy-ec2.md"
        let venv = Self.root.appendingPathComponent(".venv/bin").path
        let oracles = Self.root.appendingPathComponent("Tests").path
        let bin = TestEnvironment.binDirectory.path
        // The AWS side (inside this machine's own network namespace) and the image.
        let prepare = """
            ip addr add 169.254.169.254/32 dev lo
            \(venv)/moto_server -H 127.0.0.1 -p 5000 > /var/log/moto.log 2>&1 &
            for i in $(seq 300); do curl -sf -o /dev/null http://127.0.0.1:5000/moto-api/ && break; sleep 0.1; done
            \(venv)/python \(oracles)/IntegrationTests/Oracle/moto_setup.py http://127.0.0.1:5000 > /root/moto.json
            field() { \(venv)/python -c "import json,sys; d=json.load(open('/root/moto.json')); print(eval(sys.argv[1]))" "$1"; }
            IMDS_FAKE_HOST=169.254.169.254 \(venv)/python \(oracles)/AWSAuthTests/Oracle/imds_fake.py 80 v1-disabled \\
                "$(field 'd["instance"]["access_key"]')" "$(field 'd["instance"]["secret_key"]')" "$(field 'd["instance"]["token"]')" > /var/log/imds.log 2>&1 &
            for i in $(seq 300); do grep -q ready /var/log/imds.log && break; sleep 0.1; done
            mkdir -p /opt/vaultd/bin
            for b in vaultd unseal-agent vaultctl; do ln -s \(bin)/$b /opt/vaultd/bin/$b; done
            ln -s \(Self.root.path)/systemd /opt/vaultd/systemd
            # The operator's workstation (IAM user allowed kms:Encrypt) wraps today's key.
            /opt/vaultd/bin/vaultctl key generate --output /root/current-key.txt
            cat > /root/wrap.hcl <<HCL
            vault { address = "unix:///run/vaultd/vaultd.sock" }
            seal "awskms" {
              region = "us-east-1"  endpoint = "http://127.0.0.1:5000"  kms_key_id = "alias/vaultd-unseal"
              ciphertext_path = "/opt/vaultd/seal.enc"  encryption_context = { service = "vaultd" }
              access_key = "$(field 'd["agent"]["access_key"]')"  secret_key = "$(field 'd["agent"]["secret_key"]')"
            }
            HCL
            AWS_EC2_METADATA_DISABLED=true /opt/vaultd/bin/unseal-agent wrap --config /root/wrap.hcl < /root/current-key.txt
            mkdir -p /etc/systemd/system/unseal-agent.service.d
            printf '[Service]\\nEnvironment=AWS_KMS_ENDPOINT=http://127.0.0.1:5000\\n' > /etc/systemd/system/unseal-agent.service.d/moto.conf
            """
        let initialise = "/opt/vaultd/bin/vaultctl operator init --seal-key - < /root/current-key.txt > /dev/null\n"
        let inspect = """
            stat -c '%a %U %n' /var/lib/unseal-agent/seal.enc /etc/unseal-agent/agent.hcl
            test ! -e /etc/unseal-agent/unseal-key
            """
        let run = try await Self.onScratchMachine(
            [("prepare.sh", prepare), ("user-data.sh", try Self.block("ec2-user-data", in: guide)), ("init.sh", initialise),
             ("first-boot.sh", "export AWS_KMS_ENDPOINT=http://127.0.0.1:5000\n" + (try Self.block("ec2-first-boot", in: guide))),
             ("inspect.sh", inspect)],
            files: [:])
        defer { SecretLedger.removeDirectory(run.work) }
        let agentLog = run.log("unseal-agent.service")
        if ProcessInfo.processInfo.environment["SHOW_SCRATCH"] != nil { print(run.output, agentLog) }
        #expect(run.result.status == 0, "\(run.output)\nagent:\n\(agentLog)\nvaultd:\n\(run.log("vaultd.service"))")
        #expect(!run.output.contains("FAIL"), "doctor reported a failure: \(run.output)")
        #expect(run.output.components(separatedBy: "Sealed           false").count - 1 == 2)
        #expect(run.output.contains("600 unseal-agent /var/lib/unseal-agent/seal.enc"))
        // Unsealed twice by the agent (first boot, restart) with the instance role's credentials.
        #expect(agentLog.components(separatedBy: "] unseal-agent: unsealed").count - 1 >= 2, "\(agentLog)")
        let phrase = try String(contentsOf: run.changes.appendingPathComponent("root/current-key.txt"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!(run.output + agentLog + run.log("vaultd.service")).contains(phrase))
        if run.result.status != 0 { Self.recordTail(of: run) }
    }

    /// Runs a Kubernetes guide block with the kubectl stand-in, in a directory holding `k8s/`
    /// and `files`; returns what it printed and the stand-in's record.
    static func withKubectlStandin(_ block: String, files: [String: String] = [:]) async throws -> (ProcessResult, created: String, applied: String, skipped: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kubectl-\(UUID().uuidString.prefix(6))")
        let out = directory.appendingPathComponent("standin")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(directory) }
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("k8s").path, withDestinationPath: root.appendingPathComponent("k8s").path)
        for (name, text) in files { try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let standin = root.appendingPathComponent("Tests/IntegrationTests/Oracle/kubectl-standin").path
        let result = try await TestEnvironment.run("/bin/sh", ["-euc", "cd \"$0\"\n" + block, directory.path], environment: [
            "PATH": "\(standin):\(TestEnvironment.binDirectory.path):/usr/bin:/bin", "KUBECTL_STANDIN_OUT": out.path, "HOME": directory.path])
        func read(_ name: String) -> String { (try? String(contentsOf: out.appendingPathComponent(name), encoding: .utf8)) ?? "" }
        return (result, read("created.yaml"), read("applied.yaml"), read("skipped.txt"))
    }

    static var hasKubectl: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/kubectl") }

    @Test("deploy-kubernetes.md, base: the Secret the commands create is the one the StatefulSet mounts",
          .enabled(if: hasKubectl, "needs kubectl (with kustomize)"))
    func kubernetesBase() async throws {
        let (result, created, applied, skipped) = try await Self.withKubectlStandin(try Self.block("k8s-base", in: "docs/deploy-kubernetes.md"))
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(created.contains("kind: Secret") && created.contains("name: vaultd-unseal-key") && created.contains("namespace: vaultd"), "\(created)")
        #expect(created.contains(/\n  unseal-key: [A-Za-z0-9+\/=]{40,}\n/), "the Secret's key is 'unseal-key', holding the phrase")
        #expect(applied.contains("secretName: vaultd-unseal-key"))
        #expect(applied.contains("path = \"/run/secrets/vaultd/unseal-key\"") && applied.contains("mountPath: /run/secrets/vaultd"))
        #expect(skipped.contains("wait") && skipped.contains("operator init"))
    }

    @Test("deploy-kubernetes.md, AWS: the ConfigMap the commands create is the one the agent reads (namespace first)",
          .enabled(if: hasKubectl, "needs kubectl (with kustomize)"))
    func kubernetesAWS() async throws {
        let block = try Self.block("k8s-aws", in: "docs/deploy-kubernetes.md")
        let (result, created, applied, _) = try await Self.withKubectlStandin(block, files: ["seal.enc": "{\"version\":1,\"mechanism\":\"awskms\"}\n"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(created.contains("kind: ConfigMap") && created.contains("name: vaultd-seal-ciphertext") && created.contains("  seal.enc: |"), "\(created)")
        #expect(applied.contains("ciphertext_path    = \"/etc/unseal-agent/ciphertext/seal.enc\""))
        #expect(applied.contains("mountPath: /etc/unseal-agent/ciphertext") && applied.contains("name: vaultd-seal-ciphertext"))
        #expect(applied.contains("eks.amazonaws.com/role-arn"))
        // The stand-in refuses a namespace that does not exist yet, as a cluster would.
        let unordered = block.replacingOccurrences(of: "kubectl create namespace vaultd\n", with: "")
        let (refused, _, _, _) = try await Self.withKubectlStandin(unordered, files: ["seal.enc": "{}\n"])
        #expect(refused.status != 0 && refused.stderr.contains("namespaces \"vaultd\" not found"))
    }

    @Test("every block a guide marks as tested is run by a test here")
    func everyMarkedBlockIsRun() throws {
        let tested: Set = ["systemd-install", "systemd-first-start", "systemd-check", "ec2-iam", "ec2-metadata-options", "ec2-user-data",
                           "ec2-first-boot", "k8s-aws", "k8s-base"]
        var marked = Set<String>()
        for guide in try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("docs").path) where guide.hasSuffix(".md") {
            let text = try String(contentsOf: Self.root.appendingPathComponent("docs/\(guide)"), encoding: .utf8)
            for match in text.matches(of: /<!-- test: ([a-z0-9-]+) -->/) { marked.insert(String(match.1)) }
        }
        #expect(marked == tested)
    }

    @Test("deploy-ec2.md §1–2: the key, alias, role, policy, instance profile and metadata options, made verbatim with the AWS CLI against moto",
          .enabled(if: TestEnvironment.shouldRunOracleTests("moto", "awscli"), "needs moto and the AWS CLI: run scripts/test"))
    func ec2AccountSide() async throws {
        let guide = "docs/deploy-ec2.md"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ec2-iam-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(directory) }
        let venv = Self.root.appendingPathComponent(".venv/bin").path
        let port = freePort()
        // moto without signature checking: these are an administrator's calls, and what is
        // checked is what they create.
        let moto = try ChildProcess("\(venv)/moto_server", ["-H", "127.0.0.1", "-p", String(port)], logPath: directory.appendingPathComponent("moto.log").path)
        defer { kill(moto.pid, SIGKILL) }
        #expect(await eventually { (try? await HTTPClient.send(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/moto-api/"))) != nil })
        let script = """
            cd "$0"
            \(try Self.block("ec2-iam", in: guide))
            instance_id=$(aws ec2 run-instances --image-id ami-12c6146b --count 1 --query 'Instances[0].InstanceId' --output text)
            \(try Self.block("ec2-metadata-options", in: guide))
            echo "alias-target=$(aws kms list-aliases --query "Aliases[?AliasName=='alias/vaultd-unseal'].TargetKeyId" --output text)"
            echo "key-arn=$key_arn"
            echo "profile-role=$(aws iam get-instance-profile --instance-profile-name vaultd-unseal --query 'InstanceProfile.Roles[0].RoleName' --output text)"
            aws iam get-role-policy --role-name vaultd-unseal --policy-name unseal --query PolicyDocument --output json
            aws ec2 describe-instances --instance-ids "$instance_id" --query 'Reservations[0].Instances[0].MetadataOptions' --output json
            """
        let result = try await TestEnvironment.run("/bin/sh", ["-euc", script, directory.path], environment: [
            "PATH": "\(venv):/usr/bin:/bin", "HOME": directory.path, "AWS_ENDPOINT_URL": "http://127.0.0.1:\(port)",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"])
        let output = result.stdout
        #expect(result.status == 0, "\(output)\(result.stderr)")
        let keyARN = output.firstMatch(of: /key-arn=(arn:aws:kms:us-east-1:\d+:key\/[0-9a-f-]+)/).map { String($0.1) }
        #expect(keyARN != nil, "\(output)")
        #expect(output.contains("alias-target=\(keyARN?.split(separator: "/").last ?? "?")\n"), "the alias names the new key: \(output)")
        #expect(output.contains("profile-role=vaultd-unseal"))
        // The inline policy as IAM stored it: Decrypt only, on that key, with the context condition.
        #expect(output.contains("\"Action\": \"kms:Decrypt\""), "\(output)")
        #expect(output.contains("\"Resource\": \"\(keyARN ?? "?")\""))
        #expect(output.contains("\"kms:EncryptionContext:service\": \"vaultd\""))
        #expect(!output.contains("kms:Encrypt\""), "the instance role must not get kms:Encrypt")
        // IMDSv2 required, hop limit 2.
        #expect(output.contains("\"HttpTokens\": \"required\"") && output.contains("\"HttpPutResponseHopLimit\": 2"), "\(output)")
    }
}
