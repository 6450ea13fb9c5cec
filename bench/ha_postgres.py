"""vaultd on PostgreSQL: failover and the data path, against OpenBao on the same database server.

usage: ha_postgres.py BIN_DIR BAO ROUNDS SECONDS

One PostgreSQL 15 cluster (Debian's), initdb'd into a temporary directory, fsync on, loopback.
- Failover: 3 vaultd nodes with ha_enabled (default ha_lease_ttl, 1.5 s), each unsealed by its own
  unseal-agent. A prober writes one secret after another through the nodes that are up; the
  active node is killed (kill -9) or stopped (SIGTERM) ROUNDS times each and restarted. Figure:
  signal → the first write acknowledged in a new term (X-Vaultd-Term).
- The same for 3 OpenBao nodes on `storage "postgresql"` with ha_enabled (kill -9, 3 rounds:
  its lock is held for 15 s).
- Data path: one vaultd and one OpenBao (KV v2), both with ha_enabled on the same PostgreSQL,
  16 wrk clients, as bench/data_path.py measures them.
Prints `BENCH <name> <value> <unit>` lines.
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from restart_to_unsealed import connectable, free_port, percentile, request, wait_for  # noqa: E402
from data_path import report, wrk  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"
PASSWORD = "bench-password"


def as_owner(argv):
    return (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) + argv


class Postgres:
    def __init__(self, work):
        self.dir = os.path.join(work, "pg")
        os.makedirs(self.dir)
        with open(os.path.join(self.dir, "pw"), "w") as f:
            f.write(PASSWORD + "\n")
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "postgres:postgres", self.dir], check=True)
        subprocess.run(as_owner([f"{PG_BIN}/initdb", "-D", f"{self.dir}/data", "-U", "vaultd", "--pwfile", f"{self.dir}/pw",
                                 "-E", "UTF8", "--auth-local=trust", "--auth-host=scram-sha-256"]), check=True, capture_output=True)
        self.port = free_port()
        subprocess.run(as_owner([f"{PG_BIN}/pg_ctl", "-D", f"{self.dir}/data", "-l", f"{self.dir}/log", "-w", "start", "-o",
                                 f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=300"]),
                       check=True, capture_output=True)

    def sql(self, statement, database="postgres"):
        subprocess.run([f"{PG_BIN}/psql", "-h", self.dir, "-p", str(self.port), "-U", "vaultd", "-d", database,
                        "-v", "ON_ERROR_STOP=1", "-qc", statement], check=True, capture_output=True)

    def url(self, database):
        return f"postgres://vaultd:{PASSWORD}@127.0.0.1:{self.port}/{database}?sslmode=disable"

    def stop(self):
        subprocess.run(as_owner([f"{PG_BIN}/pg_ctl", "-D", f"{self.dir}/data", "stop", "-m", "immediate"]), capture_output=True)


def call(port, method, path, body=None, token=None, timeout=0.5):
    """(status, headers, json) or None when the node does not answer."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Vault-Token"] = token
        connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = connection.getresponse()
        payload = response.read()
        connection.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, (json.loads(payload) if payload.strip() else None)
    except (OSError, http.client.HTTPException, ValueError):
        return None


class Node:
    def __init__(self, argv, directory, port):
        self.argv, self.dir, self.port, self.process = argv, directory, port, None

    def start(self):
        log = open(os.path.join(self.dir, "log"), "a")
        self.process = subprocess.Popen(self.argv, stdout=log, stderr=log)

    def is_active(self):
        answer = call(self.port, "GET", "/v1/sys/leader")
        return bool(answer and answer[0] == 200 and answer[2] and answer[2].get("is_self"))


def failovers(name, nodes, write, term_of, kinds, rounds, restart):
    """Signals the active node `rounds` times per kind; signal → first acknowledged write in a new term."""
    times = {kind: [] for kind in kinds}
    for kind in kinds:
        for _ in range(rounds):
            wait_for(lambda: any(n.is_active() for n in nodes), timeout=120, interval=0.05)
            active = next(n for n in nodes if n.is_active())
            others = [n for n in nodes if n is not active]
            old = None
            while old is None:
                old = term_of(write(others[0]))
            start = time.monotonic()
            active.process.send_signal(signal.SIGKILL if kind == "kill-9" else signal.SIGTERM)
            index = 0
            while True:
                answer = write(others[index % len(others)])
                index += 1
                term = term_of(answer)
                if term is not None and term != old:
                    times[kind].append((time.monotonic() - start) * 1000)
                    break
                if time.monotonic() - start > 120:
                    raise RuntimeError(f"{name}: no write in a new term within 120 s after {kind}")
                time.sleep(0.002)
            active.process.wait()
            restart(active)
    for kind, values in times.items():
        print(f"BENCH failover.{name}.{kind}-to-writable.p50 {percentile(values, 50):.0f} ms")
        print(f"BENCH failover.{name}.{kind}-to-writable.p95 {percentile(values, 95):.0f} ms")
        print(f"# failover.{name}.{kind}: " + ", ".join(f"{v:.0f}" for v in values) + " ms")
    sys.stdout.flush()


def vaultd_config(directory, url, port):
    """vaultd.hcl for a node on PostgreSQL with ha_enabled: its socket, a loopback port, api_addr."""
    path = os.path.join(directory, "vaultd.hcl")
    with open(path, "w") as f:
        f.write(f'storage "postgresql" {{\n  connection_url = "{url}"\n  ha_enabled = "true"\n}}\n'
                f'listener "unix" {{ address = "{directory}/vaultd.sock" }}\n'
                f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
                f'api_addr = "http://127.0.0.1:{port}"\nlog_level = "warn"\n')
    return path


def bao_config(directory, url, port, cluster):
    """bao.hcl for an OpenBao node on `storage "postgresql"` with ha_enabled."""
    path = os.path.join(directory, "bao.hcl")
    with open(path, "w") as f:
        f.write(f'storage "postgresql" {{\n  connection_url = "{url}"\n  ha_enabled = "true"\n}}\n'
                f'listener "unix" {{ address = "{directory}/bao.sock" }}\n'
                f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  cluster_address = "127.0.0.1:{cluster}"\n  tls_disable = true\n}}\n'
                f'api_addr = "http://127.0.0.1:{port}"\ncluster_addr = "https://127.0.0.1:{cluster}"\ndisable_mlock = true\n')
    return path


def vaultd_cluster(work, bin_dir, pg, database, count):
    nodes = []
    key = os.path.join(work, "seal-key")
    for i in range(count):
        d = os.path.join(work, f"vaultd-{i}")
        os.makedirs(d)
        port = free_port()
        vaultd_config(d, pg.url(database), port)
        with open(os.path.join(d, "agent.hcl"), "w") as f:
            f.write(f'vault {{ address = "unix://{d}/vaultd.sock" }}\nseal "file" {{ path = "{key}" }}\n'
                    f'init {{\n  enabled = true\n  root_token = "file:{work}/root-token"\n}}\nretry {{\n  initial = "20ms"\n  max = "200ms"\n}}\nlog_level = "warn"\n')
        node = Node([f"{bin_dir}/vaultd", "server", "--config", f"{d}/vaultd.hcl"], d, port)
        log = open(os.path.join(d, "agent.log"), "w")
        node.agent = subprocess.Popen([f"{bin_dir}/unseal-agent", "run", "--config", f"{d}/agent.hcl"], stdout=log, stderr=log)
        node.start()
        nodes.append(node)
    return nodes


def main():
    bin_dir, bao, rounds, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    work = tempfile.mkdtemp(prefix="bench-ha-")
    os.chmod(work, 0o755)   # the postgres user (initdb as root is refused) must reach its directory
    pg, processes = None, []
    try:
        pg = Postgres(work)
        for database in ["vaultd_ha", "vaultd_data", "openbao_ha", "openbao_data"]:
            pg.sql(f"CREATE DATABASE {database}")
        for database in ["openbao_ha", "openbao_data"]:
            # Vault's documented tables (OpenBao reads the same layout).
            pg.sql('CREATE TABLE vault_kv_store (parent_path TEXT COLLATE "C" NOT NULL, path TEXT COLLATE "C", key TEXT COLLATE "C", '
                   'value BYTEA, CONSTRAINT pkey PRIMARY KEY (path, key)); CREATE INDEX parent_path_idx ON vault_kv_store (parent_path); '
                   'CREATE TABLE vault_ha_locks (ha_key TEXT COLLATE "C" NOT NULL, ha_identity TEXT COLLATE "C" NOT NULL, '
                   'ha_value TEXT COLLATE "C", valid_until TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT ha_key PRIMARY KEY (ha_key));',
                   database)

        # vaultd failover
        os.makedirs(os.path.join(work, "ha"))
        nodes = vaultd_cluster(os.path.join(work, "ha"), bin_dir, pg, "vaultd_ha", 3)
        processes += [n.process for n in nodes] + [n.agent for n in nodes]
        wait_for(lambda: os.path.exists(os.path.join(work, "ha", "root-token")) and any(n.is_active() for n in nodes), timeout=120, interval=0.05)
        token = open(os.path.join(work, "ha", "root-token")).read().strip()
        vault = None
        while vault is None:
            answer = call(nodes[0].port, "POST", "/api/v1/vaults", {"name": "failover"}, token, timeout=5)
            vault = answer[2]["id"] if answer and answer[0] == 201 else None
            time.sleep(0.05)

        def vaultd_write(node):
            return call(node.port, "POST", f"/api/v1/vaults/{vault}/secrets", {"name": "p", "value": "x" * 64}, token)

        def vaultd_term(answer):
            return answer[1].get("x-vaultd-term") if answer and answer[0] == 201 else None

        def vaultd_restart(node):
            node.start()
            processes.append(node.process)
            wait_for(lambda: call(node.port, "GET", "/v1/sys/health?standbyok=true") is not None and
                     call(node.port, "GET", "/v1/sys/health?standbyok=true")[0] == 200, timeout=60, interval=0.01)

        failovers("vaultd-postgresql", nodes, vaultd_write, vaultd_term, ["kill-9", "sigterm"], rounds, vaultd_restart)
        for n in nodes:
            n.process.send_signal(signal.SIGKILL)
            n.agent.send_signal(signal.SIGKILL)

        # OpenBao failover (kill -9 only: its lock lives 15 s)
        bao_nodes = []
        for i in range(3):
            d = os.path.join(work, f"bao-{i}")
            os.makedirs(d)
            port = free_port()
            cluster = free_port()
            bao_config(d, pg.url("openbao_ha"), port, cluster)
            node = Node([bao, "server", f"-config={d}/bao.hcl", "-log-level=warn"], d, port)
            node.sock = f"{d}/bao.sock"
            node.start()
            processes.append(node.process)
            bao_nodes.append(node)
        for node in bao_nodes:
            wait_for(lambda: connectable(node.sock), timeout=60)
        _, init = request(bao_nodes[0].sock, "PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1}, timeout=60)
        bao_key, bao_token = init["keys_base64"][0], init["root_token"]

        def bao_unseal(node):
            wait_for(lambda: connectable(node.sock), timeout=60)
            wait_for(lambda: request(node.sock, "PUT", "/v1/sys/unseal", {"key": bao_key}, timeout=30)[0] == 200, timeout=60, interval=0.05)

        for node in bao_nodes:
            bao_unseal(node)
        wait_for(lambda: any(n.is_active() for n in bao_nodes), timeout=120, interval=0.1)
        active = next(n for n in bao_nodes if n.is_active())
        wait_for(lambda: call(active.port, "POST", "/v1/sys/mounts/secret", {"type": "kv", "options": {"version": "2"}}, bao_token, timeout=10) is not None, timeout=60, interval=0.2)
        time.sleep(2)

        def bao_write(node):
            return call(node.port, "POST", "/v1/secret/data/probe", {"data": {"value": "x"}}, bao_token)

        def bao_restart(node):
            node.start()
            processes.append(node.process)
            bao_unseal(node)

        # OpenBao names no term in its answers: its writes fail until a standby holds the lock,
        # so the figure is kill -9 → the first write acknowledged after it.
        times = []
        for _ in range(3):
            wait_for(lambda: any(n.is_active() for n in bao_nodes), timeout=120, interval=0.1)
            active = next(n for n in bao_nodes if n.is_active())
            others = [n for n in bao_nodes if n is not active]
            # OpenBao's standbys answered "local node not active but active cluster node not
            # found" (500) instead of forwarding here: the prober writes to every surviving node
            # in turn, and the first one that accepts is the new active node.
            wait_for(lambda: bao_write(active) is not None and bao_write(active)[0] == 200, timeout=60, interval=0.1)
            start = time.monotonic()
            active.process.send_signal(signal.SIGKILL)
            active.process.wait()
            index = 0
            while True:
                answer = bao_write(others[index % 2])
                index += 1
                if answer and answer[0] == 200:
                    times.append((time.monotonic() - start) * 1000)
                    break
                if time.monotonic() - start > 120:
                    raise RuntimeError("openbao: no write within 120 s of kill -9")
                time.sleep(0.01)
            bao_restart(active)
        print(f"BENCH failover.openbao-postgresql.kill-9-to-writable.p50 {percentile(times, 50):.0f} ms")
        print("# failover.openbao-postgresql.kill-9: " + ", ".join(f"{v:.0f}" for v in times) + " ms")
        sys.stdout.flush()
        for n in bao_nodes:
            n.process.send_signal(signal.SIGKILL)

        # Data path on PostgreSQL: one node each, ha_enabled, same database server.
        d = os.path.join(work, "vaultd-data")
        os.makedirs(d)
        port = free_port()
        vaultd_config(d, pg.url("vaultd_data"), port)
        log = open(os.path.join(d, "log"), "w")
        server = subprocess.Popen([f"{bin_dir}/vaultd", "server", "--config", f"{d}/vaultd.hcl"], stdout=log, stderr=log)
        processes.append(server)
        sock = f"{d}/vaultd.sock"
        wait_for(lambda: connectable(sock), timeout=60)
        _, init = request(sock, "PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
        request(sock, "PUT", "/v1/sys/unseal", {"key": init["keys_base64"][0]})
        token = init["root_token"]
        wait_for(lambda: request(sock, "GET", "/v1/sys/leader")[1].get("is_self"), timeout=60, interval=0.02)
        _, vault = request(sock, "POST", "/api/v1/vaults", {"name": "bench"}, token=token)
        _, secret = request(sock, "POST", f"/api/v1/vaults/{vault['id']}/secrets", {"name": "bench", "value": "x" * 64}, token=token)
        base = f"http://127.0.0.1:{port}"
        read = wrk(f"{base}/api/v1/vaults/{vault['id']}/secrets/{secret['id']}", token, seconds, directory=d, server=server.pid)
        write = wrk(f"{base}/api/v1/vaults/{vault['id']}/secrets", token, seconds, "POST", '{"name": "bench", "value": "' + "x" * 64 + '"}', directory=d, server=server.pid)
        report("vaultd-postgresql", read, write)

        d = os.path.join(work, "bao-data")
        os.makedirs(d)
        port, cluster = free_port(), free_port()
        bao_config(d, pg.url("openbao_data"), port, cluster)
        log = open(os.path.join(d, "log"), "w")
        server = subprocess.Popen([bao, "server", f"-config={d}/bao.hcl", "-log-level=warn"], stdout=log, stderr=log)
        processes.append(server)
        sock = f"{d}/bao.sock"
        wait_for(lambda: connectable(sock), timeout=60)
        _, init = request(sock, "PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1}, timeout=60)
        request(sock, "PUT", "/v1/sys/unseal", {"key": init["keys_base64"][0]})
        token = init["root_token"]
        wait_for(lambda: request(sock, "POST", "/v1/sys/mounts/secret", {"type": "kv", "options": {"version": "2"}}, token=token)[0] in (200, 204), timeout=60, interval=0.2)
        wait_for(lambda: request(sock, "POST", "/v1/secret/data/bench", {"data": {"value": "x" * 64}}, token=token)[0] == 200, timeout=60, interval=0.2)
        base = f"http://127.0.0.1:{port}"
        read = wrk(f"{base}/v1/secret/data/bench", token, seconds, directory=d, server=server.pid)
        write = wrk(f"{base}/v1/secret/data/bench", token, seconds, "POST", '{"data": {"value": "' + "x" * 64 + '"}}', directory=d, unique_path=True, server=server.pid)
        report("openbao-kv2-postgresql", read, write)
    finally:
        for process in processes:
            try:
                process.send_signal(signal.SIGCONT)
                process.send_signal(signal.SIGKILL)
                process.wait()
            except Exception:
                pass
        if pg:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
