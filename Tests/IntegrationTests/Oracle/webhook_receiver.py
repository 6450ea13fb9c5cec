"""A webhook receiver for the agent's notify "webhook" blocks, checking each signature with
Python's own hmac (the oracle for the agent's HMAC-SHA256).

usage: webhook_receiver.py PORT SECRET [FAIL_FIRST] [hang]

Every POST is checked: X-Unseal-Agent-Signature must be "sha256=" + the hex HMAC-SHA256 of the
raw body under SECRET (compared in constant time). The first FAIL_FIRST POSTs are answered 500
(the agent must retry them); with "hang" every POST is accepted and never answered. Each POST
is recorded; GET /log returns them as JSON: [{"status", "valid", "event_header", "body"}].
Prints "ready PORT".
"""
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
SECRET = sys.argv[2].encode()
FAIL_FIRST = int(sys.argv[3]) if len(sys.argv) > 3 else 0
HANG = len(sys.argv) > 4 and sys.argv[4] == "hang"
LOCK = threading.Lock()
LOG = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"{}"):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with LOCK:
            self.answer(200, json.dumps(LOG).encode())

    def do_POST(self):
        global FAIL_FIRST
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(expected, self.headers.get("X-Unseal-Agent-Signature", ""))
        if HANG:
            time.sleep(30)
            self.close_connection = True
            return
        with LOCK:
            status = 500 if FAIL_FIRST > 0 else 200
            FAIL_FIRST -= 1
            LOG.append({"status": status, "valid": valid, "event_header": self.headers.get("X-Unseal-Agent-Event", ""),
                        "body": json.loads(body)})
        # The bodies go to stderr too: the receiver's log is kept and scanned for secrets.
        print(body.decode(), file=sys.stderr, flush=True)
        self.answer(status)


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
print(f"ready {PORT}", flush=True)
server.serve_forever()
