"""A forward proxy for the transport tests: CONNECT tunnels (HTTPS) and absolute-form GET/POST
(plain HTTP), loopback only.

Usage: connect_proxy.py PORT [USER:PASSWORD]
With credentials, every request must carry `Proxy-Authorization: Basic …` or gets 407.
GET /proxy/log (origin-form, to the proxy itself) answers with what it saw, one line per request:
`CONNECT 127.0.0.1:443` or `GET http://127.0.0.1:80/path`.
"""
import base64
import select
import socket
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
CREDENTIALS = sys.argv[2] if len(sys.argv) > 2 else None
LOG = []


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def authorised(self):
        if CREDENTIALS is None:
            return True
        expected = "Basic " + base64.b64encode(CREDENTIALS.encode()).decode()
        if self.headers.get("Proxy-Authorization") == expected:
            return True
        self.send_response(407)
        self.send_header("Proxy-Authenticate", 'Basic realm="test"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_CONNECT(self):
        LOG.append(f"CONNECT {self.path}")
        if not self.authorised():
            return
        host, port = self.path.rsplit(":", 1)
        if host not in ("127.0.0.1", "localhost", "[::1]"):
            self.send_error(403)
            return
        upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        self.send_response(200, "Connection established")
        self.end_headers()
        sockets = [self.connection, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], 10)
            if not readable:
                break
            for s in readable:
                data = s.recv(65536)
                if not data:
                    upstream.close()
                    return
                (upstream if s is self.connection else self.connection).sendall(data)

    def forward(self):
        if self.path == "/proxy/log":
            body = "\n".join(LOG).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        LOG.append(f"{self.command} {self.path}")
        if not self.authorised():
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        request = urllib.request.Request(self.path, data=body, method=self.command)
        for name, value in self.headers.items():
            if name.lower() not in ("proxy-authorization", "connection", "host", "content-length"):
                request.add_header(name, value)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            response = opener.open(request, timeout=10)
            status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = forward
    do_POST = forward


server = ThreadingHTTPServer(("127.0.0.1", PORT), Proxy)
print(f"ready {PORT}", flush=True)
server.serve_forever()
