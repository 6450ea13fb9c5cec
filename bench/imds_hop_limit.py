"""Time to first AWS credentials from the instance metadata service, with and without the
IMDSv2 hop-limit symptom (the token PUT's response never arrives).

Peers, all on loopback: the IMDS fake of the tests (Tests/AWSAuthTests/Oracle/imds_fake.py,
proven against botocore) handing out a session of an IAM role, and moto with signature checking on
(so the credentials are really used). Each round is a fresh unseal-agent process:

  doctor            `unseal-agent doctor`: the "(in N ms)" it prints for the credential chain,
                    and the whole process's wall time (start, credentials, one KMS Decrypt)
  start-to-unsealed `unseal-agent run` against a sealed vaultd: process start → sealed=false

Scenarios: imds-v2 (IMDSv2 answers), hop-limit (PUT unanswered, IMDSv1 allowed),
hop-limit-v1-disabled (PUT unanswered, IMDSv1 refused: the time to fail with the diagnosis).

usage: imds_hop_limit.py BIN_DIR VENV_BIN ROUNDS       prints `BENCH <name> <value> <unit>` lines
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from restart_to_unsealed import free_port, percentile, request, unsealed, wait_for  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_helper(argv):
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if not process.stdout.readline().startswith("ready"):
        raise RuntimeError(f"{argv[1]} did not start")
    return process


def wait_http(url, timeout=60):
    import urllib.request
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


def main():
    bin_dir, venv_bin, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    agent = os.path.join(bin_dir, "unseal-agent")
    work = tempfile.mkdtemp(prefix="bench-imds-")
    processes = []
    try:
        # moto with signature checking on, and the agent's IAM user.
        moto_port = free_port()
        moto_url = f"http://127.0.0.1:{moto_port}"
        processes.append(subprocess.Popen([f"{venv_bin}/moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(moto_url + "/moto-api/")
        setup = json.loads(subprocess.run([f"{venv_bin}/python", f"{ROOT}/Tests/IntegrationTests/Oracle/moto_setup.py", moto_url],
                                          check=True, capture_output=True, text=True).stdout)
        keys = setup["agent"]

        # A vaultd, initialised with a key that is then wrapped by KMS.
        socket_path = f"{work}/vaultd.sock"
        with open(f"{work}/vaultd.hcl", "w") as f:
            f.write(f'storage "sqlite" {{ path = "{work}/vault.db" }}\nlistener "unix" {{ address = "{socket_path}" }}\nlog_level = "warn"\n')
        vaultd_log = open(f"{work}/vaultd.log", "w")
        processes.append(subprocess.Popen([f"{bin_dir}/vaultd", "server", "--config", f"{work}/vaultd.hcl"], stdout=vaultd_log, stderr=vaultd_log))
        wait_for(lambda: os.path.exists(socket_path))
        phrase = json.loads(subprocess.run([f"{bin_dir}/vaultctl", "key", "generate", "--json"], check=True, capture_output=True, text=True).stdout)["phrase"]
        _, answer = request(socket_path, "PUT", "/v1/sys/init", {"seal_key": phrase})
        root_token = answer["root_token"]

        def config(name):
            path = f"{work}/{name}.hcl"
            with open(path, "w") as f:
                f.write(f'''vault {{ address = "unix://{socket_path}" }}
seal "awskms" {{
  region = "us-east-1"
  kms_key_id = "{setup["key_id"]}"
  endpoint = "{moto_url}"
  ciphertext_path = "{work}/seal.enc"
  {name == "wrap" and f'access_key = "{keys["access_key"]}"  secret_key = "{keys["secret_key"]}"' or ""}
}}
retry {{ initial = "50ms"  max = "1s" }}
log_level = "warn"
''')
            return path

        subprocess.run([agent, "wrap", "--config", config("wrap")], input=phrase + "\n", check=True, capture_output=True, text=True)
        role_config = config("role")
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        base_env.update(AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")

        print(f"# {rounds} rounds per scenario; IMDS token timeout 1 s (the default)")
        for scenario, mode in (("imds-v2", "normal"), ("hop-limit", "silent-put"), ("hop-limit-v1-disabled", "silent-v1-disabled")):
            port = free_port()
            imds = start_helper([f"{venv_bin}/python", f"{ROOT}/Tests/AWSAuthTests/Oracle/imds_fake.py", str(port), mode,
                                 setup["instance"]["access_key"], setup["instance"]["secret_key"], setup["instance"]["token"]])
            env = dict(base_env, AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://127.0.0.1:{port}")
            credentials, walls, unseals = [], [], []
            diagnosis = ""
            for _ in range(rounds):
                started = time.perf_counter()
                out = subprocess.run([agent, "doctor", "--config", role_config], env=env, capture_output=True, text=True).stdout
                walls.append((time.perf_counter() - started) * 1000)
                found = re.search(r"\(in (\d+) ms\)|FAILED after (\d+) ms", out)
                credentials.append(float(found.group(1) or found.group(2)))
                diagnosis = next((line.strip() for line in out.splitlines() if line.strip().startswith("IMDS")), "")
            rss = None
            if mode != "silent-v1-disabled":
                for round in range(rounds):
                    if unsealed(socket_path):
                        status, _ = request(socket_path, "PUT", "/v1/sys/seal", token=root_token)
                        assert status in (200, 204), f"sys/seal answered {status}"
                    started = time.perf_counter()
                    agent_log = open(f"{work}/agent.log", "a")
                    run = subprocess.Popen([agent, "run", "--config", role_config], env=env, stdout=agent_log, stderr=agent_log)
                    try:
                        done = wait_for(lambda: unsealed(socket_path), timeout=30, interval=0.001)
                    except TimeoutError:
                        run.kill()
                        sys.exit(f"the agent did not unseal ({scenario}); doctor said:\n{out}\nagent log:\n{open(f'{work}/agent.log').read()[-3000:]}")
                    unseals.append((done - started) * 1000)
                    if round == rounds - 1:
                        # The agent's memory once it has used the whole cloud path (IMDS,
                        # STS-style credentials cached and cloaked, a signed KMS Decrypt).
                        time.sleep(1)
                        rss = next(int(line.split()[1]) / 1024 for line in open(f"/proc/{run.pid}/status") if line.startswith("VmRSS:"))
                    run.terminate()
                    run.wait()
            imds.terminate()
            imds.wait()
            print(f"# {scenario}: {diagnosis[:150]}")
            label = "time-to-failure" if mode == "silent-v1-disabled" else "time-to-credentials"
            print(f"BENCH imds.{scenario}.{label}.p50 {percentile(credentials, 50):.0f} ms")
            print(f"BENCH imds.{scenario}.{label}.max {max(credentials):.0f} ms")
            print(f"BENCH imds.{scenario}.doctor-wall.p50 {percentile(walls, 50):.0f} ms")
            if unseals:
                print(f"BENCH imds.{scenario}.agent-start-to-unsealed.p50 {percentile(unseals, 50):.0f} ms")
                print(f"BENCH imds.{scenario}.agent-start-to-unsealed.max {max(unseals):.0f} ms")
            if rss is not None:
                print(f"BENCH imds.{scenario}.agent-rss-after-unseal {rss:.1f} MB")
            sys.stdout.flush()
    finally:
        for process in processes:
            process.terminate()
            process.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
