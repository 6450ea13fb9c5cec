"""Restart → unsealed: how long a vault stays sealed after a restart.

For each scenario the server is killed (SIGKILL) and started again ROUNDS times. Two instants
are taken on every restart by polling over the Unix socket: when the socket first accepts a
connection ("listening") and when seal-status first says sealed=false ("unsealed"). The figure
that matters is unsealed − listening: what the unseal mechanism adds once the vault can be
reached. Scenarios, measured in one run on one machine:

  vaultd+agent      vaultd, unseal-agent with a file source (1 share)
  openbao+agent     OpenBao (raft, Shamir 3 shares / threshold 2), unseal-agent with the shares
  openbao-static    OpenBao's own seal "static" (auto-unseal inside the server): the anchor

Also, from the vaultd+agent scenario: vaultd's own unseal latency (key received → unsealed,
its "unsealed unseal_us=…" log lines), and the agent at idle: CPU time and RSS over IDLE
seconds while it watches an unsealed vault.

Prints `BENCH <name> <value> <unit>` lines.
"""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def connectable(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def request(path, method, url, body=None, timeout=5, token=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        data = b"" if body is None else json.dumps(body).encode()
        auth = f"X-Vault-Token: {token}\r\n" if token else ""
        s.sendall(f"{method} {url} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        raw = b"".join(chunks)
        head, _, payload = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        if b"transfer-encoding: chunked" in head.lower():
            decoded, rest = b"", payload
            while rest:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line, 16)
                if size == 0:
                    break
                decoded += rest[:size]
                rest = rest[size + 2:]
            payload = decoded
        return status, (json.loads(payload) if payload.strip() else None)
    finally:
        s.close()


def unsealed(path):
    try:
        status, body = request(path, "GET", "/v1/sys/seal-status", timeout=1)
        return status == 200 and body.get("sealed") is False
    except (OSError, ValueError, IndexError):
        return False


def wait_for(predicate, timeout=60, interval=0.0002):
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if predicate():
            return time.perf_counter()
        time.sleep(interval)
    raise TimeoutError("timed out")


class Server:
    def __init__(self, argv, socket_path, log):
        self.argv, self.socket_path, self.log = argv, socket_path, log
        self.process = None

    def start(self):
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        self.process = subprocess.Popen(self.argv, stdout=self.log, stderr=self.log)

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def measure(server, rounds):
    """Returns (listening→unsealed, start→unsealed) lists in milliseconds."""
    added, total = [], []
    for _ in range(rounds):
        server.kill()
        started = time.perf_counter()
        server.start()
        listening = wait_for(lambda: connectable(server.socket_path))
        done = wait_for(lambda: unsealed(server.socket_path), interval=0.0005)
        added.append((done - listening) * 1000)
        total.append((done - started) * 1000)
        time.sleep(0.05)
    server.kill()
    return added, total


def percentile(values, p):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[index]


def report(name, added, total):
    print(f"BENCH restart-to-unsealed.{name}.added.p50 {percentile(added, 50):.1f} ms")
    print(f"BENCH restart-to-unsealed.{name}.added.p95 {percentile(added, 95):.1f} ms")
    print(f"BENCH restart-to-unsealed.{name}.start-to-unsealed.p50 {percentile(total, 50):.1f} ms")
    print(f"BENCH restart-to-unsealed.{name}.start-to-unsealed.p95 {percentile(total, 95):.1f} ms")
    sys.stdout.flush()


def bao_config(directory, port, extra=""):
    path = os.path.join(directory, "bao.hcl")
    with open(path, "w") as f:
        f.write(f"""
storage "raft" {{
  path = "{directory}/raft"
  node_id = "n1"
}}
listener "unix" {{ address = "{directory}/bao.sock" }}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{port + 1}"
  tls_disable = true
}}
disable_mlock = true
api_addr = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{port + 1}"
{extra}
""")
    os.makedirs(os.path.join(directory, "raft"), exist_ok=True)
    return path


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def main():
    bin_dir, bao, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    idle_seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 60
    work = tempfile.mkdtemp(prefix="bench-restart-")
    agents = []
    try:
        # vaultd + agent
        d = os.path.join(work, "vaultd")
        os.makedirs(d)
        log = open(os.path.join(d, "log"), "w")
        vaultd_log_path = os.path.join(d, "vaultd.log")
        vaultd_log = open(vaultd_log_path, "w")
        with open(os.path.join(d, "vaultd.hcl"), "w") as f:
            f.write(f'storage "sqlite" {{ path = "{d}/vault.db" }}\nlistener "unix" {{ address = "{d}/vaultd.sock" }}\nlog_level = "info"\n')
        with open(os.path.join(d, "agent.hcl"), "w") as f:
            f.write(f'vault {{ address = "unix://{d}/vaultd.sock" }}\nseal "file" {{ path = "{d}/key" }}\ninit {{ enabled = true }}\nlog_level = "warn"\n')
        server = Server([f"{bin_dir}/vaultd", "server", "--config", f"{d}/vaultd.hcl"], f"{d}/vaultd.sock", vaultd_log)
        agents.append(subprocess.Popen([f"{bin_dir}/unseal-agent", "run", "--config", f"{d}/agent.hcl"], stdout=log, stderr=log))
        server.start()
        wait_for(lambda: unsealed(server.socket_path))
        report("vaultd+agent", *measure(server, rounds))
        vaultd_log.flush()
        inside = [int(line.split("unseal_us=")[1].split()[0]) / 1000 for line in open(vaultd_log_path) if "unseal_us=" in line]
        print(f"BENCH vaultd.unseal-inside.p50 {percentile(inside, 50):.2f} ms")
        print(f"BENCH vaultd.unseal-inside.p95 {percentile(inside, 95):.2f} ms")
        # The agent at idle, watching an unsealed vaultd.
        server.start()
        wait_for(lambda: unsealed(server.socket_path))
        time.sleep(1)
        cpu_before = cpu_seconds(agents[0].pid)
        time.sleep(idle_seconds)
        cpu = cpu_seconds(agents[0].pid) - cpu_before
        print(f"BENCH agent.idle.cpu {100 * cpu / idle_seconds:.3f} % (over {idle_seconds} s)")
        print(f"BENCH agent.idle.rss {rss_mb(agents[0].pid):.1f} MB")
        # What is the agent's alone (heap, stacks); the rest are file pages a host can share.
        print(f"BENCH agent.idle.rss-private {rss_mb(agents[0].pid, 'RssAnon'):.1f} MB")
        sys.stdout.flush()
        server.kill()

        # OpenBao + agent (Shamir 3/2)
        d = os.path.join(work, "openbao")
        os.makedirs(d)
        log = open(os.path.join(d, "log"), "w")
        config = bao_config(d, free_port())
        with open(os.path.join(d, "agent.hcl"), "w") as f:
            f.write(f'vault {{ address = "unix://{d}/bao.sock" }}\nseal "file" {{ path = "{d}/shares.json" }}\ninit {{\n enabled = true\n secret_shares = 3\n secret_threshold = 2\n}}\nlog_level = "warn"\n')
        server = Server([bao, "server", f"-config={config}", "-log-level=warn"], f"{d}/bao.sock", log)
        agents.append(subprocess.Popen([f"{bin_dir}/unseal-agent", "run", "--config", f"{d}/agent.hcl"], stdout=log, stderr=log))
        server.start()
        wait_for(lambda: unsealed(server.socket_path), timeout=120)
        report("openbao+agent", *measure(server, rounds))

        # OpenBao seal "static": the anchor
        d = os.path.join(work, "static")
        os.makedirs(d)
        log = open(os.path.join(d, "log"), "w")
        with open(os.path.join(d, "static.key"), "wb") as f:
            f.write(os.urandom(32))
        os.chmod(os.path.join(d, "static.key"), 0o600)
        config = bao_config(d, free_port(), f'seal "static" {{\n  current_key_id = "bench-1"\n  current_key = "file://{d}/static.key"\n}}')
        server = Server([bao, "server", f"-config={config}", "-log-level=warn"], f"{d}/bao.sock", log)
        server.start()
        wait_for(lambda: connectable(server.socket_path), timeout=60)
        wait_for(lambda: request(server.socket_path, "GET", "/v1/sys/seal-status")[0] == 200, timeout=60, interval=0.05)
        status, body = request(server.socket_path, "PUT", "/v1/sys/init", {"recovery_shares": 1, "recovery_threshold": 1}, timeout=60)
        if status != 200:
            raise RuntimeError(f"static-seal init failed: {status} {body}")
        wait_for(lambda: unsealed(server.socket_path), timeout=120)
        report("openbao-static", *measure(server, rounds))
    finally:
        for agent in agents:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(timeout=10)
            except subprocess.TimeoutExpired:
                agent.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
