"""A fault-injecting HTTP proxy in front of a KMS endpoint (moto), for tests and benchmarks.

usage: fault_proxy.py PORT UPSTREAM_URL FAULT[,FAULT…]

Every KMS call (a POST to /) takes the next fault from the list; once the list is used up,
calls pass through. Faults, as AWS and the networks in front of it produce them:

  throttle   400 {"__type": "ThrottlingException"}        (KMS request quota)
  internal   500 {"__type": "KMSInternalException"}
  500        500 with an HTML body (a load balancer, not KMS)
  503        503 "Service Unavailable", no JSON
  stall      accept the request and never answer (30 s), then drop the connection
  reset      drop the connection without a response
  pass       forward to the upstream

`POST /fault/down` drops every later call without an answer, as a stopped endpoint does,
until `POST /fault/up` restores it; those calls are logged as "down".

The Host header is forwarded unchanged, so the upstream verifies the SigV4 signature the client
made for this proxy's address. `GET /fault/log` returns the calls seen so far as JSON:
[{"t": seconds since start, "fault": name, "target": X-Amz-Target}]. Prints "ready PORT".
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
UPSTREAM = urllib.parse.urlsplit(sys.argv[2])
SCHEDULE = [fault for fault in sys.argv[3].split(",") if fault] if len(sys.argv) > 3 else []
LOCK = threading.Lock()
LOG = []
STARTED = time.monotonic()
DOWN = False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, method, body):
        connection = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=30)
        headers = {name: value for name, value in self.headers.items() if name.lower() not in ("connection", "transfer-encoding")}
        connection.request(method, self.path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        connection.close()

    def do_GET(self):
        if self.path == "/fault/log":
            with LOCK:
                return self.send(200, json.dumps(LOG).encode(), "application/json")
        self.forward("GET", None)

    def do_POST(self):
        global DOWN
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.startswith("/moto-api"):
            return self.forward("POST", body)
        if self.path in ("/fault/down", "/fault/up"):
            DOWN = self.path == "/fault/down"
            return self.send(200, b"{}", "application/json")
        with LOCK:
            fault = "down" if DOWN else SCHEDULE.pop(0) if SCHEDULE else "pass"
            LOG.append({"t": round(time.monotonic() - STARTED, 4), "fault": fault, "target": self.headers.get("X-Amz-Target", "")})
        if fault == "throttle":
            self.send(400, b'{"__type":"ThrottlingException","message":"Rate exceeded"}', "application/x-amz-json-1.1")
        elif fault == "internal":
            self.send(500, b'{"__type":"KMSInternalException","message":"internal error"}', "application/x-amz-json-1.1")
        elif fault == "500":
            self.send(500, b"<html><body>500 Internal Server Error</body></html>", "text/html")
        elif fault == "503":
            self.send(503, b"Service Unavailable", "text/plain")
        elif fault == "stall":
            time.sleep(30)
            self.close_connection = True
        elif fault in ("reset", "down"):
            self.close_connection = True
        else:
            self.forward("POST", body)


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
print(f"ready {PORT}", flush=True)
server.serve_forever()
