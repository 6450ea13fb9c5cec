"""Instructions per request: a cost figure that a noisy machine does not move, unlike req/s.

A release vaultd runs under valgrind's callgrind with instrumentation off; for each operation the
script warms up, switches instrumentation on, sends a fixed number of requests over one keep-alive
TCP connection (as wrk does), switches it off and dumps. Instructions (callgrind's Ir) divided
by the requests is the figure; the dump's top functions say where they go. (perf stat would be
faster, but this VM exposes no hardware counters: `instructions:u` is "not supported".)

usage: instructions.py BIN_DIR REQUESTS [OUT_DIR]

Operations: a secret read (GET), a secret write (POST, a new secret each time), an AES-256-GCM
encrypt and an Ed25519 sign of 64 bytes. Prints `BENCH instructions.vaultd.<op> N instr/request`;
with OUT_DIR, keeps each dump and its `callgrind_annotate` there.
"""
import glob
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from restart_to_unsealed import connectable, free_port, request, wait_for  # noqa: E402


def control(pid, *arguments):
    subprocess.run(["callgrind_control", *arguments, str(pid)], check=True, capture_output=True, text=True)


def main():
    bin_dir, count = sys.argv[1], int(sys.argv[2])
    out_dir = sys.argv[3] if len(sys.argv) > 3 else None
    work = tempfile.mkdtemp(prefix="bench-instr-")
    try:
        port = free_port()
        with open(f"{work}/vaultd.hcl", "w") as f:
            f.write(f'storage "sqlite" {{ path = "{work}/vault.db" }}\nlistener "unix" {{ address = "{work}/vaultd.sock" }}\n'
                    f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\nlog_level = "warn"\n')
        log = open(f"{work}/log", "w")
        # Debian 12's valgrind (3.19) cannot read the toolchain's DWARF 5 and gives up: a copy
        # without debug sections keeps the symbol table, which is all the profile needs.
        shutil.copy(f"{bin_dir}/vaultd", f"{work}/vaultd")
        subprocess.run(["strip", "--strip-debug", f"{work}/vaultd"], check=True)
        vaultd = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={work}/callgrind.%p",
                                   f"{work}/vaultd", "server", "--config", f"{work}/vaultd.hcl"], stdout=log, stderr=log)
        sock = f"{work}/vaultd.sock"
        try:
            wait_for(lambda: connectable(sock), timeout=300, interval=0.2)
        except TimeoutError:
            raise SystemExit(f"vaultd did not start under valgrind:\n{open(f'{work}/log').read()[-2000:]}")
        _, init = request(sock, "PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1}, timeout=120)
        request(sock, "PUT", "/v1/sys/unseal", {"key": init["keys_base64"][0]}, timeout=120)
        token = init["root_token"]
        _, vault = request(sock, "POST", "/api/v1/vaults", {"name": "bench", "description": "instructions"}, token=token, timeout=60)
        secrets = f"/api/v1/vaults/{vault['id']}/secrets"
        _, secret = request(sock, "POST", secrets, {"name": "bench", "value": "x" * 64}, token=token, timeout=60)
        keys = f"/api/v1/vaults/{vault['id']}/keys"
        _, aes = request(sock, "POST", keys, {"name": "aes", "spec": "AES-256-GCM"}, token=token, timeout=60)
        _, ed = request(sock, "POST", keys, {"name": "ed", "spec": "Ed25519"}, token=token, timeout=60)
        operations = [
            ("read", "GET", f"{secrets}/{secret['id']}", None),
            ("write", "POST", secrets, json.dumps({"name": "bench", "value": "x" * 64})),
            ("encrypt-aes256gcm", "POST", f"{keys}/{aes['id']}/encrypt", json.dumps({"data": "x" * 64})),
            ("sign-ed25519", "POST", f"{keys}/{ed['id']}/sign", json.dumps({"message": "ab" * 64})),
        ]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        headers = {"X-Vault-Token": token, "Content-Type": "application/json"}

        def send(method, path, body):
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status >= 300:
                raise RuntimeError(f"{method} {path}: {response.status}")

        for name, method, path, body in operations:
            for _ in range(20):
                send(method, path, body)   # warm: caches, allocator, code paths
            control(vaultd.pid, "-i", "on")
            for _ in range(count):
                send(method, path, body)
            control(vaultd.pid, "-i", "off")
            control(vaultd.pid, "-d", name)
            time.sleep(0.5)
            dumps = sorted(glob.glob(f"{work}/callgrind.{vaultd.pid}.*"), key=os.path.getmtime)
            dump = dumps[-1]
            text = open(dump).read()
            total = int(re.search(r"^totals:\s+(\d+)", text, re.M).group(1))
            print(f"BENCH instructions.vaultd.{name} {total // count} instr/request")
            sys.stdout.flush()
            if out_dir:
                os.makedirs(out_dir, exist_ok=True)
                shutil.copy(dump, f"{out_dir}/callgrind.{name}")
                annotated = subprocess.run(["callgrind_annotate", "--inclusive=no", dump], capture_output=True, text=True).stdout
                with open(f"{out_dir}/top.{name}.txt", "w") as f:
                    f.write(annotated)
            os.remove(dump)
        connection.close()
        vaultd.terminate()
        vaultd.wait(timeout=120)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
