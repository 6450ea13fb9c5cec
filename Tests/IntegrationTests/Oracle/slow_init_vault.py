"""A Vault/OpenBao stand-in whose sys/init is slow, on a Unix socket, for the test that the
agent never abandons an init (the shares exist only in that response).

usage: slow_init_vault.py PORT(ignored) SOCKET DELAY_SECONDS

Answers seal-status, init (after DELAY, with 3 shares, threshold 2, as OpenBao's JSON) and
unseal (shares accumulate; a wrong one is 400) like OpenBao does. Prints "ready PORT".
"""
import base64
import json
import os
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

SOCKET, DELAY = sys.argv[2], float(sys.argv[3])
STATE = {"initialized": False, "sealed": True, "progress": 0, "seen": [], "keys": [], "inits": 0}
LOCK = threading.Lock()


def status():
    base = {"type": "shamir", "initialized": STATE["initialized"], "sealed": STATE["sealed"], "t": 2 if STATE["initialized"] else 0,
            "n": 3 if STATE["initialized"] else 0, "progress": STATE["progress"], "nonce": "", "version": "2.7.2",
            "build_date": "2026-10-26T20:32:27Z", "migration": False, "recovery_seal": False, "storage_type": "raft"}
    return base


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def address_string(self):
        return "unix"

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def do_GET(self):
        if self.path.startswith("/v1/sys/seal-status"):
            with LOCK:
                return self.send_json(200, status())
        if self.path == "/fake/state":
            with LOCK:
                return self.send_json(200, {"keys": STATE["keys"], "inits": STATE["inits"], "sealed": STATE["sealed"]})
        self.send_json(404, {"errors": []})

    def do_PUT(self):
        body = self.body()
        if self.path == "/v1/sys/init":
            with LOCK:
                if STATE["initialized"] or STATE["inits"]:
                    return self.send_json(400, {"errors": ["Vault is already initialized"]})
                STATE["inits"] += 1
            time.sleep(DELAY)  # raft set-up on a slow disk
            keys = [os.urandom(33) for _ in range(3)]
            with LOCK:
                STATE["initialized"] = True
                STATE["keys"] = [base64.b64encode(k).decode() for k in keys]
            return self.send_json(200, {"keys": [k.hex() for k in keys], "keys_base64": STATE["keys"], "root_token": "s.slowinit"})
        if self.path == "/v1/sys/unseal":
            with LOCK:
                if body.get("key") not in STATE["keys"] and body.get("key") not in [base64.b64decode(k).hex() for k in STATE["keys"]]:
                    return self.send_json(400, {"errors": ["invalid key"]})
                if body["key"] not in STATE["seen"]:
                    STATE["seen"].append(body["key"])
                STATE["progress"] = len(STATE["seen"])
                if STATE["progress"] >= 2:
                    STATE["sealed"], STATE["progress"] = False, 0
                return self.send_json(200, status())
        self.send_json(404, {"errors": []})


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if os.path.exists(SOCKET):
    os.unlink(SOCKET)
server = Server(SOCKET, Handler)
print(f"ready {sys.argv[1]}", flush=True)
server.serve_forever()
