"""Follower restart → unsealed, in a real OpenBao raft cluster behind one agent.

Three OpenBao nodes (raft, `retry_join` to each other, Shamir 5 shares / threshold 3), each on its
own Unix socket; one unseal-agent lists the three as `cluster = "raft"` with init on. Once the
agent has initialised the cluster and every node is unsealed, a follower (a node that is not the
active one) is killed (SIGKILL) and started again ROUNDS times. As in restart_to_unsealed.py the
figure is unsealed − listening: what the agent adds once the node can be reached. The goal is a
single node's (≤ 50 ms added at p50).

usage: follower_restart.py BIN_DIR BAO ROUNDS
Prints `BENCH <name> <value> <unit>` lines.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from restart_to_unsealed import Server, connectable, free_port, percentile, request, unsealed, wait_for  # noqa: E402


def node_config(directory, name, api_ports, cluster_ports, index):
    joins = "\n".join(f'  retry_join {{ leader_api_addr = "http://127.0.0.1:{api_ports[other]}" }}'
                      for other in range(len(api_ports)) if other != index)
    path = os.path.join(directory, "bao.hcl")
    with open(path, "w") as f:
        f.write(f"""storage "raft" {{
  path    = "{directory}/raft"
  node_id = "{name}"
{joins}
}}
listener "unix" {{ address = "{directory}/s" }}
listener "tcp" {{
  address         = "127.0.0.1:{api_ports[index]}"
  cluster_address = "127.0.0.1:{cluster_ports[index]}"
  tls_disable     = true
}}
disable_mlock = true
api_addr      = "http://127.0.0.1:{api_ports[index]}"
cluster_addr  = "https://127.0.0.1:{cluster_ports[index]}"
""")
    return path


def main():
    bin_dir, bao, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    root = tempfile.mkdtemp(prefix="bench-raft-")
    nodes, agent = [], None
    try:
        api_ports = [free_port() for _ in range(3)]
        cluster_ports = [free_port() for _ in range(3)]
        for index in range(3):
            directory = os.path.join(root, f"n{index + 1}")
            os.makedirs(os.path.join(directory, "raft"))
            config = node_config(directory, f"n{index + 1}", api_ports, cluster_ports, index)
            log = open(os.path.join(directory, "bao.log"), "ab")
            nodes.append(Server([bao, "server", f"-config={config}"], os.path.join(directory, "s"), log))
        for node in nodes:
            node.start()
        agent_config = os.path.join(root, "agent.hcl")
        with open(agent_config, "w") as f:
            for node in nodes:
                f.write(f'vault {{ address = "unix://{node.socket_path}"  cluster = "raft" }}\n')
            f.write(f'seal "file" {{ path = "{root}/shares.json" }}\n')
            f.write('init {\n  enabled = true\n  secret_shares = 5\n  secret_threshold = 3\n}\n')
        agent_log = open(os.path.join(root, "agent.log"), "ab")
        agent = subprocess.Popen([os.path.join(bin_dir, "unseal-agent"), "run", "--config", agent_config], stdout=agent_log, stderr=agent_log)
        for node in nodes:
            wait_for(lambda: unsealed(node.socket_path), timeout=120, interval=0.01)

        def follower():
            for node in nodes:
                _, leader = request(node.socket_path, "GET", "/v1/sys/leader")
                if not leader.get("is_self"):
                    return node
            raise RuntimeError("no follower")

        added, total = [], []
        for _ in range(rounds):
            node = follower()
            node.kill()
            started = time.perf_counter()
            node.start()
            listening = wait_for(lambda: connectable(node.socket_path))
            done = wait_for(lambda: unsealed(node.socket_path), interval=0.0005)
            added.append((done - listening) * 1000)
            total.append((done - started) * 1000)
            time.sleep(0.5)   # let raft settle before the next kill
        print(f"BENCH follower-restart-to-unsealed.openbao-raft+agent.added.p50 {percentile(added, 50):.1f} ms")
        print(f"BENCH follower-restart-to-unsealed.openbao-raft+agent.added.p95 {percentile(added, 95):.1f} ms")
        print(f"BENCH follower-restart-to-unsealed.openbao-raft+agent.start-to-unsealed.p50 {percentile(total, 50):.1f} ms")
        print(f"BENCH follower-restart-to-unsealed.openbao-raft+agent.start-to-unsealed.p95 {percentile(total, 95):.1f} ms")
        sys.stdout.flush()
    finally:
        if agent:
            agent.kill()
            agent.wait()
        for node in nodes:
            node.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
