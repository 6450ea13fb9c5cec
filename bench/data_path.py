"""The data path: secret reads and writes per second and p99 latency, 16 concurrent clients over
loopback TCP, vaultd against OpenBao KV v2 (raft) on the same machine with the same load tool
(wrk, from Debian); and key operations (AES-256-GCM encrypt, Ed25519 and P-256 sign of 64
bytes) against OpenBao's transit engine.

usage: data_path.py BIN_DIR BAO SECONDS

vaultd: POST /api/v1/vaults/{id}/secrets (a new secret each request) and GET of one secret.
OpenBao: POST /v1/secret/data/bench-N (a new secret each request) and GET of one. Both durable
(vaultd: SQLite WAL, synchronous=FULL; OpenBao: raft with BoltDB, fsync per write).
Prints `BENCH <name> <value> <unit>` lines.
"""
import base64
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from restart_to_unsealed import bao_config, free_port, request, unsealed, wait_for, connectable  # noqa: E402

CONNECTIONS, THREADS = 16, 2


def cpu_seconds(pid):
    """User + system CPU seconds of a running process (from /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU_USE = {}   # figure name -> (wrk's, the server's) share of the machine's CPU time, in %


def wrk(url, token, seconds, method="GET", body=None, directory=".", unique_path=False, server=None):
    """Runs wrk; with unique_path each request goes to URL + a random suffix (a new key).
    With `server` (a pid), also measures how much of the machine's CPU wrk and the server used."""
    script = os.path.join(directory, f"wrk-{method}.lua")
    with open(script, "w") as f:
        f.write(f'wrk.method = "{method}"\nwrk.headers["X-Vault-Token"] = "{token}"\nwrk.headers["Content-Type"] = "application/json"\n')
        if body is not None:
            f.write(f"wrk.body = [[{body}]]\n")
        if unique_path:
            f.write('request = function() return wrk.format(nil, wrk.path .. "-" .. math.random(1, 1000000000)) end\n')
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = cpu_seconds(server) if server else 0
    started = time.monotonic()
    out = subprocess.run(["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, check=True).stdout
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    capacity = elapsed * os.cpu_count() / 100
    wrk_share = (after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime) / capacity
    server_share = (cpu_seconds(server) - server_before) / capacity if server else None
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} failed requests\n{out}")
    return rate, float(p99.group(1)) * scale, wrk_share, server_share


def report_operations(name, figures):
    for operation, (rate, p99, *_) in figures.items():
        print(f"BENCH key-ops.{name}.{operation} {rate:.0f} req/s")
        print(f"BENCH key-ops.{name}.{operation}.p99 {p99:.2f} ms")
    sys.stdout.flush()


def report(name, read, write):
    print(f"BENCH data-path.{name}.read {read[0]:.0f} req/s")
    print(f"BENCH data-path.{name}.read.p99 {read[1]:.2f} ms")
    print(f"BENCH data-path.{name}.write {write[0]:.0f} req/s")
    print(f"BENCH data-path.{name}.write.p99 {write[1]:.2f} ms")
    # Where the 2 cores went: the load generator's share, and the server's.
    for operation, figures in (("read", read), ("write", write)):
        print(f"BENCH data-path.{name}.{operation}.cpu-wrk {figures[2]:.0f} %")
        if figures[3] is not None:
            print(f"BENCH data-path.{name}.{operation}.cpu-server {figures[3]:.0f} %")
    sys.stdout.flush()


def main():
    bin_dir, bao, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    work = tempfile.mkdtemp(prefix="bench-data-")
    processes = []
    try:
        # vaultd
        d = os.path.join(work, "vaultd")
        os.makedirs(d)
        port = free_port()
        configuration = (f'storage "sqlite" {{ path = "{d}/vault.db" }}\nlistener "unix" {{ address = "{d}/vaultd.sock" }}\n'
                         f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\nlog_level = "warn"\n')
        with open(os.path.join(d, "vaultd.hcl"), "w") as f:
            f.write(configuration)
        log = open(os.path.join(d, "log"), "w")
        vaultd = subprocess.Popen([f"{bin_dir}/vaultd", "server", "--config", f"{d}/vaultd.hcl"], stdout=log, stderr=log)
        processes.append(vaultd)
        sock = f"{d}/vaultd.sock"
        wait_for(lambda: connectable(sock))
        _, init = request(sock, "PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
        request(sock, "PUT", "/v1/sys/unseal", {"key": init["keys_base64"][0]})
        token = init["root_token"]
        _, vault = request(sock, "POST", "/api/v1/vaults", {"name": "bench", "description": "data path"}, token=token)
        secret_body = '{"name": "bench", "value": "' + "x" * 64 + '"}'
        status, secret = request(sock, "POST", f"/api/v1/vaults/{vault['id']}/secrets", {"name": "bench", "value": "x" * 64}, token=token)
        base = f"http://127.0.0.1:{port}"
        read = wrk(f"{base}/api/v1/vaults/{vault['id']}/secrets/{secret['id']}", token, seconds, directory=d, server=vaultd.pid)
        write = wrk(f"{base}/api/v1/vaults/{vault['id']}/secrets", token, seconds, "POST", secret_body, directory=d, server=vaultd.pid)
        report("vaultd", read, write)
        keys = f"/api/v1/vaults/{vault['id']}/keys"
        message = "ab" * 64
        figures = {}
        for operation, spec, body in [("encrypt-aes256gcm", "AES-256-GCM", '{"data": "' + "x" * 64 + '"}'),
                                      ("sign-ed25519", "Ed25519", '{"message": "' + message + '"}'),
                                      ("sign-p256", "P-256", '{"message": "' + message + '"}')]:
            _, key = request(sock, "POST", keys, {"name": operation, "spec": spec}, token=token)
            verb = "encrypt" if operation.startswith("encrypt") else "sign"
            figures[operation] = wrk(f"{base}{keys}/{key['id']}/{verb}", token, seconds, "POST", body, directory=d)
        report_operations("vaultd", figures)

        # The same server with an audit device declared (SIGHUP reads it): each request and
        # answer written before the answer, fsynced (the default) or left to the page cache.
        for name, fsync in [("vaultd-audited-fsync", "true"), ("vaultd-audited-nofsync", "false")]:
            audit_log = os.path.join(d, f"{name}.log")
            with open(os.path.join(d, "vaultd.hcl"), "w") as f:
                f.write(configuration + f'audit "file" "{name}" {{\n  options {{\n    file_path = "{audit_log}"\n    fsync = "{fsync}"\n  }}\n}}\n')
            vaultd.send_signal(signal.SIGHUP)
            wait_for(lambda: os.path.exists(audit_log))
            read = wrk(f"{base}/api/v1/vaults/{vault['id']}/secrets/{secret['id']}", token, seconds, directory=d, server=vaultd.pid)
            write = wrk(f"{base}/api/v1/vaults/{vault['id']}/secrets", token, seconds, "POST", secret_body, directory=d, server=vaultd.pid)
            report(name, read, write)

        # OpenBao, KV v2 on raft
        d = os.path.join(work, "openbao")
        os.makedirs(d)
        port = free_port()
        config = bao_config(d, port)
        log = open(os.path.join(d, "log"), "w")
        openbao = subprocess.Popen([bao, "server", f"-config={config}", "-log-level=warn"], stdout=log, stderr=log)
        processes.append(openbao)
        sock = f"{d}/bao.sock"
        wait_for(lambda: connectable(sock), timeout=60)
        wait_for(lambda: request(sock, "GET", "/v1/sys/seal-status")[0] == 200, timeout=60, interval=0.05)
        _, init = request(sock, "PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1}, timeout=60)
        request(sock, "PUT", "/v1/sys/unseal", {"key": init["keys_base64"][0]})
        token = init["root_token"]
        wait_for(lambda: request(sock, "POST", "/v1/sys/mounts/secret", {"type": "kv", "options": {"version": "2"}}, token=token)[0] in (200, 204), timeout=60, interval=0.2)
        body = '{"data": {"value": "' + "x" * 64 + '"}}'
        wait_for(lambda: request(sock, "POST", "/v1/secret/data/bench", {"data": {"value": "x" * 64}}, token=token)[0] == 200, timeout=60, interval=0.2)
        base = f"http://127.0.0.1:{port}"
        read = wrk(f"{base}/v1/secret/data/bench", token, seconds, directory=d, server=openbao.pid)
        # Like vaultd's writes, each creates a new secret (no contention on one key).
        write = wrk(f"{base}/v1/secret/data/bench", token, seconds, "POST", body, directory=d, unique_path=True, server=openbao.pid)
        report("openbao-kv2", read, write)

        # OpenBao transit: the same operations on the same 64 bytes.
        wait_for(lambda: request(sock, "POST", "/v1/sys/mounts/transit", {"type": "transit"}, token=token)[0] in (200, 204), timeout=60, interval=0.2)
        plaintext = base64.b64encode(b"x" * 64).decode()
        figures = {}
        for operation, kind, verb, body in [("encrypt-aes256gcm", "aes256-gcm96", "encrypt", '{"plaintext": "' + plaintext + '"}'),
                                            ("sign-ed25519", "ed25519", "sign", '{"input": "' + plaintext + '"}'),
                                            ("sign-p256", "ecdsa-p256", "sign", '{"input": "' + plaintext + '"}')]:
            wait_for(lambda: request(sock, "POST", f"/v1/transit/keys/{operation}", {"type": kind}, token=token)[0] in (200, 204), timeout=60, interval=0.2)
            figures[operation] = wrk(f"{base}/v1/transit/{verb}/{operation}", token, seconds, "POST", body, directory=d)
        report_operations("openbao-transit", figures)
    finally:
        for process in processes:
            process.send_signal(signal.SIGKILL)
            process.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
