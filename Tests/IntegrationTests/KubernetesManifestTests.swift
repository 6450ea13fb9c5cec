import Foundation
import TestSupport
import Testing

/// `k8s/`: every manifest and every rendered overlay is a valid Kubernetes 1.29 object, and
/// checkov finds nothing (its one skip is justified on the resource).
@Suite("deployment: Kubernetes", .enabled(if: TestEnvironment.shouldRunOracleTests("kubernetes_validate") && FileManager.default.isExecutableFile(atPath: "/usr/bin/kubectl"),
                                          "needs kubectl (kustomize) and the kubernetes-validate/checkov oracles: run scripts/test"))
struct KubernetesManifestTests {
    static let root = TestEnvironment.packageRoot.appendingPathComponent("k8s")
    static let venv = TestEnvironment.packageRoot.appendingPathComponent(".venv/bin")
    static let layers = ["base", "overlays/aws", "overlays/azure", "overlays/ha"]

    /// `kubectl kustomize` of a layer, written to a file.
    static func render(_ layer: String, into directory: URL) async throws -> String {
        let rendered = try await TestEnvironment.run("/usr/bin/kubectl", ["kustomize", root.appendingPathComponent(layer).path])
        guard rendered.status == 0 else { throw TestSupportError("kubectl kustomize \(layer): \(rendered.stderr)") }
        let path = directory.appendingPathComponent(layer.replacingOccurrences(of: "/", with: "-") + ".yaml").path
        try rendered.stdout.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("kubernetes-validate --strict against 1.29: every base manifest and every rendered layer")
    func validate() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("k8s-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(directory) }
        var files = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("base").path)
            .filter { $0.hasSuffix(".yaml") && $0 != "kustomization.yaml" }.map { Self.root.appendingPathComponent("base/\($0)").path }
        for layer in Self.layers { files.append(try await Self.render(layer, into: directory)) }
        let result = try await TestEnvironment.run(Self.venv.appendingPathComponent("kubernetes-validate").path, ["-k", "1.29.0", "--strict"] + files)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(!result.stdout.contains("ERROR") && !result.stdout.contains("WARN"), "\(result.stdout)")
        print("kubernetes-validate 1.29: \(result.stdout.split(separator: "\n").filter { $0.contains("passed") }.count) resources passed")
    }

    @Test("checkov: no failed check in k8s/ nor in any rendered layer")
    func checkov() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("k8s-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(directory) }
        let checkov = Self.venv.appendingPathComponent("../checkov/bin/checkov").standardized.path
        // --skip-download: never contact Prisma Cloud (tests stay on loopback).
        var runs = [("k8s/", ["-d", Self.root.path])]
        for layer in Self.layers { runs.append((layer + " (rendered)", ["-f", try await Self.render(layer, into: directory)])) }
        for (name, target) in runs {
            let result = try await TestEnvironment.run(checkov, target + ["--framework", "kubernetes", "--compact", "--quiet", "--skip-download"])
            let summary = result.stdout.split(separator: "\n").first { $0.contains("Passed checks") }.map(String.init) ?? "no summary: \(result.stdout.suffix(500))\(result.stderr.suffix(500))"
            print("checkov \(name): \(summary)")
            #expect(summary.contains("Failed checks: 0"), "\(name): \(result.stdout)")
        }
    }

    @Test("the agent is a native sidecar sharing the socket emptyDir; readiness means unsealed; overlays carry their identities; no disruption budget on one replica; monitoring reaches both daemons; the HA overlay: 3 nodes on distinct hosts on PostgreSQL")
    func shape() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("k8s-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { SecretLedger.removeDirectory(directory) }
        let base = try await Self.render("base", into: directory), aws = try await Self.render("overlays/aws", into: directory), azure = try await Self.render("overlays/azure", into: directory)
        let ha = try await Self.render("overlays/ha", into: directory)
        let result = try await TestEnvironment.runOracle("""
            import sys, yaml
            docs = {path: list(yaml.safe_load_all(open(path))) for path in sys.argv[1:4] + sys.argv[5:6]}
            def find(path, kind):
                return next(d for d in docs[path] if d["kind"] == kind)
            base, aws, azure = sys.argv[1:4]
            pod = find(base, "StatefulSet")["spec"]["template"]["spec"]
            agent = pod["initContainers"][0]
            vaultd = pod["containers"][0]
            assert agent["name"] == "unseal-agent" and agent["restartPolicy"] == "Always", agent
            socket = {m["name"] for m in agent["volumeMounts"]} & {m["name"] for m in vaultd["volumeMounts"]}
            assert socket == {"socket"}, socket
            assert next(v for v in pod["volumes"] if v["name"] == "socket")["emptyDir"]
            assert vaultd["readinessProbe"]["httpGet"]["path"] == "/v1/sys/health"
            assert pod["automountServiceAccountToken"] is False
            for c in (agent, vaultd):
                s = c["securityContext"]
                assert s["readOnlyRootFilesystem"] and not s["allowPrivilegeEscalation"] and s["capabilities"]["drop"] == ["ALL"], c["name"]
                # Reviewed against vault-helm: probes time out after 3 s (Kubernetes' default of 1 s
                # fails a busy server), memory requested as limited, liveness never fails when sealed.
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    assert c[probe]["timeoutSeconds"] >= 3, (c["name"], probe)
                r = c["resources"]
                assert r["requests"]["memory"] == r["limits"]["memory"] and "cpu" in r["limits"], (c["name"], r)
            assert "sealedcode=200" in vaultd["livenessProbe"]["httpGet"]["path"]
            assert "eks.amazonaws.com/role-arn" in find(aws, "ServiceAccount")["metadata"]["annotations"]
            assert 'seal "awskms"' in next(d for d in docs[aws] if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "unseal-agent-config")["data"]["agent.hcl"]
            assert "azure.workload.identity/client-id" in find(azure, "ServiceAccount")["metadata"]["annotations"]
            assert find(azure, "StatefulSet")["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
            # High availability: 3 nodes on distinct hosts, one drained at a time, each with its agent;
            # PostgreSQL and api_addr from the environment (the Secret, the pod's IP).
            ha = sys.argv[5]
            spec = find(ha, "StatefulSet")["spec"]
            assert spec["replicas"] == 3 and spec["podManagementPolicy"] == "Parallel", spec
            pod = spec["template"]["spec"]
            rule = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
            assert rule["topologyKey"] == "kubernetes.io/hostname", rule
            assert find(ha, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
            assert pod["initContainers"][0]["name"] == "unseal-agent" and pod["initContainers"][0]["restartPolicy"] == "Always"
            env = {e["name"]: e for e in pod["containers"][0]["env"]}
            assert env["VAULT_PG_CONNECTION_URL"]["valueFrom"]["secretKeyRef"]["name"] == "vaultd-postgresql", env
            assert env["VAULT_API_ADDR"]["value"] == "http://$(POD_IP):8200", env
            assert "standbyok=true" in pod["containers"][0]["readinessProbe"]["httpGet"]["path"]
            assert "volumeClaimTemplates" not in spec
            hcl = next(d for d in docs[ha] if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "vaultd-config")["data"]["vaultd.hcl"]
            assert 'storage "postgresql"' in hcl and "ha_enabled" in hcl and "connection_url" not in hcl.replace("# connection_url", ""), hcl
            for path in (base, aws, azure, ha):
                # A disruption budget on a single replica blocks `kubectl drain` for good.
                replicas = find(path, "StatefulSet")["spec"].get("replicas", 1)
                budgets = [d for d in docs[path] if d["kind"] == "PodDisruptionBudget"]
                assert replicas > 1 or not budgets, (path, replicas)
                # Prometheus (namespace "monitoring") reaches the agent (9102) and vaultd's metrics (8200).
                rules = find(path, "NetworkPolicy")["spec"]["ingress"]
                monitored = {p["port"] for r in rules for f in r["from"] if f.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == "monitoring" for p in r["ports"]}
                assert {8200, 9102} <= monitored, (path, monitored)
            # The example ServiceMonitor selects a Service that has both ports, sealed pods included.
            monitor = yaml.safe_load(open(sys.argv[6] + "/monitoring/servicemonitor.yaml"))
            wanted = monitor["spec"]["selector"]["matchLabels"].items()
            for path in (base, ha):
                services = [d for d in docs[path] if d["kind"] == "Service" and d["metadata"].get("labels", {}).items() >= wanted]
                assert len(services) == 1, (path, services)
                ports = {p["name"]: p["port"] for p in services[0]["spec"]["ports"]}
                assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports.keys() and set(ports.values()) == {8200, 9102}, ports
                assert services[0]["spec"]["publishNotReadyAddresses"] is True
            assert {e["path"] for e in monitor["spec"]["endpoints"]} == {"/v1/sys/metrics", "/metrics"}
            # The configurations, for the daemons' own parsers below.
            out = sys.argv[4]
            for path, tag in ((base, "base"), (aws, "aws"), (azure, "azure"), (ha, "ha")):
                for d in docs[path]:
                    if d["kind"] == "ConfigMap":
                        for name, text in d["data"].items():
                            open(f"{out}/{tag}-{name}", "w").write(text)
            print("ok")
            """, arguments: [base, aws, azure, directory.path, ha, Self.root.path], input: "")
        #expect(result.stdout.contains("ok"), "\(result.stdout)\(result.stderr)")

        // vaultd and the agent accept their configurations: whatever fails next (no storage,
        // no vault, no cloud here) must not be a configuration error.
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_EC2_METADATA_DISABLED"] = "true"
        environment["AZURE_TENANT_ID"] = "00000000-0000-0000-0000-000000000000"
        environment["AZURE_CLIENT_ID"] = "00000000-0000-0000-0000-000000000000"
        environment["AZURE_CLIENT_SECRET"] = "not-used"
        for tag in ["base", "aws", "azure"] {
            let parsed = try await DeploymentTests.configurationErrors(agent: directory.appendingPathComponent("\(tag)-agent.hcl").path, environment: environment)
            #expect(parsed == nil, "\(tag) agent.hcl: \(parsed ?? "")")
        }
        let vaultdParsed = try await DeploymentTests.configurationErrors(vaultd: directory.appendingPathComponent("base-vaultd.hcl").path)
        // (its TCP listener is moved from 0.0.0.0:8200 to a loopback port for the test)
        #expect(vaultdParsed == nil, "vaultd.hcl: \(vaultdParsed ?? "")")
        // The HA node's configuration, against a real PostgreSQL: it starts and listens.
        let cluster = try await PostgresCluster.shared.value
        let haParsed = try await DeploymentTests.configurationErrors(
            vaultd: directory.appendingPathComponent("ha-vaultd.hcl").path,
            environment: ["VAULT_PG_CONNECTION_URL": cluster.url(try await cluster.createDatabase()), "VAULT_API_ADDR": "http://127.0.0.1:8200"])
        #expect(haParsed == nil, "ha vaultd.hcl: \(haParsed ?? "")")
    }
}
