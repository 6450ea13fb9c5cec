"""A faithful fake of the EC2 instance metadata service (IMDS), for tests.

usage: imds_fake.py PORT MODE [ACCESS_KEY SECRET_KEY [SESSION_TOKEN]]
MODE: normal      IMDSv2 and v1 both work
      silent-put  the token PUT is accepted but never answered (the hop-limit symptom)
      v1-disabled tokens required (HttpTokens=required): tokenless GETs get 401
      silent-v1-disabled  both: the PUT never answers and v1 is refused

As AWS documents: PUT /latest/api/token needs X-aws-ec2-metadata-token-ttl-seconds in 1…21600
(else 400) and refuses requests with X-Forwarded-For (403); a GET with an unknown or expired
token gets 401; unknown paths 404. Prints "ready PORT" when listening.

Environment: IMDS_FAKE_HOST (default 127.0.0.1) is the address to listen on;
IMDS_FAKE_HOP_LIMIT=N sends token responses with IP TTL N, as EC2's HttpPutResponseHopLimit.
"""
import json
import os
import secrets
import socket
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, MODE = int(sys.argv[1]), sys.argv[2]
ACCESS, SECRET = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else ("ASIAFAKEIMDSKEY00001", "fake/imds/secret/key/0123456789abcdefghij")
TOKEN = sys.argv[5] if len(sys.argv) > 5 else "fake-imds-session-token"
ROLE = "unseal-agent-role"
HOP_LIMIT = int(os.environ.get("IMDS_FAKE_HOP_LIMIT", "0"))  # 0: the TTL is left alone
TOKENS = {}
LOCK = threading.Lock()
COUNTS = {"put": 0, "get": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        with LOCK:
            COUNTS["put"] += 1
        if self.path != "/latest/api/token":
            return self.send(404)
        if MODE in ("silent-put", "silent-v1-disabled"):
            time.sleep(30)  # the response would die at the hop limit: never answer
            return
        if "X-Forwarded-For" in self.headers:
            return self.send(403)
        if HOP_LIMIT:
            # As EC2 does (HttpPutResponseHopLimit): the token response leaves with this IP TTL,
            # so each router on the way takes one and a container behind one more hop than the
            # limit never gets it. Only meaningful across network namespaces (HopLimitTests).
            self.connection.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, HOP_LIMIT)
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return self.send(400)
        token = secrets.token_urlsafe(32)
        with LOCK:
            TOKENS[token] = time.time() + int(ttl)
        self.send(200, token.encode(), {"X-aws-ec2-metadata-token-ttl-seconds": ttl, "Content-Type": "text/plain"})

    def do_GET(self):
        with LOCK:
            COUNTS["get"] += 1
        token = self.headers.get("X-aws-ec2-metadata-token")
        if token is not None:
            with LOCK:
                expiry = TOKENS.get(token)
            if expiry is None or expiry < time.time():
                return self.send(401)
        elif MODE in ("v1-disabled", "silent-v1-disabled"):
            return self.send(401)
        if self.path == "/fake/counts":
            return self.send(200, json.dumps(COUNTS).encode())
        expiration = (datetime.now(timezone.utc) + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
        paths = {
            "/latest/meta-data/": b"ami-id\ninstance-id\niam/\nplacement/",
            "/latest/meta-data/instance-id": b"i-0123456789abcdef0",
            "/latest/meta-data/placement/region": b"us-east-1",
            "/latest/meta-data/placement/availability-zone": b"us-east-1a",
            "/latest/meta-data/placement/availability-zone/": b"us-east-1a",  # as botocore asks
            "/latest/meta-data/iam/security-credentials/": ROLE.encode(),
            f"/latest/meta-data/iam/security-credentials/{ROLE}": json.dumps({
                "Code": "Success", "LastUpdated": expiration, "Type": "AWS-HMAC",
                "AccessKeyId": ACCESS, "SecretAccessKey": SECRET, "Token": TOKEN,
                "Expiration": expiration,
            }).encode(),
        }
        if self.path not in paths:
            return self.send(404)
        self.send(200, paths[self.path], {"Content-Type": "text/plain"})


# IMDS_FAKE_HOST: 169.254.169.254 inside a network namespace a test made (scratch_machine.sh).
server = ThreadingHTTPServer((os.environ.get("IMDS_FAKE_HOST", "127.0.0.1"), PORT), Handler)
server.daemon_threads = True
print(f"ready {PORT}", flush=True)
server.serve_forever()
