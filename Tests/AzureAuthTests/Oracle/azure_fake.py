"""A faithful fake of the Azure endpoints the agent talks to, for tests.

usage: azure_fake.py PORT CONFIG.json

One port serves TLS and plain HTTP alike (the first byte of a connection decides), as
https://127.0.0.1:PORT and http://127.0.0.1:PORT:

  Entra ID (https)   POST /{tenant}/oauth2/v2.0/token    client_credentials with client_secret,
                                                         or a client_assertion (RS256 JWT signed by
                                                         a registered certificate, or a federated
                                                         token for workload identity)
                     GET  /{tenant}/v2.0/.well-known/openid-configuration, /common/discovery/instance
  VM identity (http) GET  /metadata/identity/oauth2/token  (Metadata: true; client_id/object_id/msi_res_id)
  App Service (http) GET  /msi/token                       (X-IDENTITY-HEADER)
  Key Vault (https)  GET/PUT /secrets/{name}[/{version}], GET /keys/{name}[/{version}],
                     POST /keys/{name}[/{version}]/wrapkey|unwrapkey (RSA-OAEP-256); a request
                     without a valid token gets 401 with the Bearer challenge
  Control            (the log records which identity each Key Vault call came from: a client id,
                     "vm:ID" or "appservice:ID")
                     POST /fake/control {"faults": [{"op", "status", "retry_after"?}], "forbid": [op],
                     "token_lifetime": s, "clear_log": true}; GET /fake/log

Ops are "secrets/get", "secrets/set", "keys/get", "keys/wrapkey", "keys/unwrapkey", and "identity/vm"
(faults only) for the VM identity endpoint. Answers follow
Azure's documented shapes (api-version 7.4): errors are {"error": {"code", "message"}}, the token
endpoint's are {"error", "error_description"}. CONFIG holds tls_cert, tls_key, tenant, clients
({client_id: {"secret"?, "certificate"?: PEM path, "federated_token"?}}), managed_identities
([{client_id, object_id, msi_res_id}], the first is system-assigned), identity_header.
Prints "ready PORT".
"""
import base64
import json
import secrets
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

PORT = int(sys.argv[1])
CONFIG = json.load(open(sys.argv[2]))
TENANT = CONFIG["tenant"]
BASE = f"https://127.0.0.1:{PORT}"
VAULT_RESOURCE = "https://vault.azure.net"
LOCK = threading.Lock()
STATE = {"faults": [], "forbid": set(), "token_lifetime": 3600, "log": [], "started": time.monotonic()}
TOKENS = {}  # access token -> {"expires": epoch, "who": str}
SECRETS = {}  # name -> [{"version", "value", "created"}]
KEY_NAME = CONFIG.get("key_name", "unseal-wrap")
KEY_VERSION = uuid.uuid4().hex
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(who):
    token = secrets.token_urlsafe(32)
    lifetime = STATE["token_lifetime"]
    with LOCK:
        TOKENS[token] = {"expires": time.time() + lifetime, "who": who}
    return token, lifetime


def verify_assertion(assertion, client):
    """A client assertion: the federated token itself, or a JWT signed with the client's certificate."""
    if client.get("federated_token") is not None:
        return assertion == client["federated_token"]
    if client.get("certificate") is None:
        return False
    try:
        header_b64, claims_b64, signature_b64 = assertion.split(".")
        header, claims = json.loads(unb64url(header_b64)), json.loads(unb64url(claims_b64))
        certificate = x509.load_pem_x509_certificate(open(client["certificate"], "rb").read())
        certificate.public_key().verify(unb64url(signature_b64), f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return False
    thumbprint = certificate.fingerprint(hashes.SHA1())
    thumbprint256 = certificate.fingerprint(hashes.SHA256())
    return (header.get("alg") in ("RS256", "PS256")
            and (unb64url(header.get("x5t", "")) == thumbprint or unb64url(header.get("x5t#S256", "")) == thumbprint256)
            and claims.get("aud") == f"{BASE}/{TENANT}/oauth2/v2.0/token"
            and claims.get("iss") == claims.get("sub")
            and claims.get("exp", 0) > time.time())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, body, headers=None):
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -- routing --------------------------------------------------------------------------

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("PUT")

    def route(self, method):
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, dict(urllib.parse.parse_qsl(url.query))
        body = self.body()
        secure = isinstance(self.connection, ssl.SSLSocket)
        if path == "/fake/log":
            with LOCK:
                return self.send_json(200, STATE["log"])
        if path == "/fake/control" and method == "POST":
            return self.control(json.loads(body or b"{}"))
        if path == "/metadata/identity/oauth2/token":
            return self.vm_identity(query)
        if path == "/msi/token":
            return self.app_service(query)
        if not secure:
            return self.send_json(400, {"error": {"code": "BadRequest", "message": "HTTPS is required"}})
        if path == f"/{TENANT}/oauth2/v2.0/token" and method == "POST":
            return self.token(dict(urllib.parse.parse_qsl(body.decode())))
        if path in (f"/{TENANT}/v2.0/.well-known/openid-configuration", f"/{TENANT}/.well-known/openid-configuration"):
            return self.send_json(200, {
                "token_endpoint": f"{BASE}/{TENANT}/oauth2/v2.0/token",
                "authorization_endpoint": f"{BASE}/{TENANT}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{BASE}/{TENANT}/oauth2/v2.0/devicecode",
                "issuer": f"{BASE}/{TENANT}/v2.0",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            })
        if path == "/common/discovery/instance":
            return self.send_json(200, {"tenant_discovery_endpoint": f"{BASE}/{TENANT}/v2.0/.well-known/openid-configuration",
                                        "api-version": "1.1", "metadata": []})
        if path.startswith("/secrets/") or path.startswith("/keys/"):
            return self.key_vault(method, path, query, body)
        self.send_json(404, {"error": {"code": "NotFound", "message": f"no route {method} {path}"}})

    def control(self, request):
        with LOCK:
            if "faults" in request:
                STATE["faults"] = list(request["faults"])
            if "forbid" in request:
                STATE["forbid"] = set(request["forbid"])
            if "token_lifetime" in request:
                STATE["token_lifetime"] = int(request["token_lifetime"])
            if request.get("clear_log"):
                STATE["log"] = []
            if request.get("expire_tokens"):
                for token in TOKENS.values():
                    token["expires"] = 0
        self.send_json(200, {"ok": True})

    # -- Entra ID -------------------------------------------------------------------------

    def token(self, form):
        def fail(status, error, description):
            self.send_json(status, {"error": error, "error_description": description, "error_codes": [7000215],
                                    "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()), "trace_id": str(uuid.uuid4())})
        if form.get("grant_type") != "client_credentials":
            return fail(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            return fail(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.")
        client = CONFIG["clients"].get(form.get("client_id", ""))
        if client is None:
            return fail(400, "unauthorized_client", f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not found in the directory.")
        if "client_secret" in form:
            if client.get("secret") != form["client_secret"]:
                return fail(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        elif form.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            if not verify_assertion(form.get("client_assertion", ""), client):
                return fail(401, "invalid_client", "AADSTS700027: The certificate or federated assertion is not valid.")
        else:
            return fail(401, "invalid_client", "AADSTS7000218: The request body must contain client_assertion or client_secret.")
        token, lifetime = issue(form["client_id"])
        self.send_json(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token})

    # -- managed identity -----------------------------------------------------------------

    def identity(self, query, id_names):
        identities = CONFIG["managed_identities"]
        for name in id_names:
            if name in query:
                key = {"mi_res_id": "msi_res_id"}.get(name, name)
                return next((i for i in identities if i.get(key) == query[name]), None)
        return identities[0] if identities else None

    def vm_identity(self, query):
        if self.headers.get("Metadata") != "true":
            return self.send_json(400, {"error": "invalid_request", "error_description": "Required metadata header not specified"})
        if query.get("api-version") is None or query.get("resource") is None:
            return self.send_json(400, {"error": "invalid_request", "error_description": "Required query variable 'resource' is missing"})
        with LOCK:
            fault = STATE["faults"].pop(0) if STATE["faults"] and STATE["faults"][0].get("op") == "identity/vm" else None
            STATE["log"].append({"t": round(time.monotonic() - STATE["started"], 3), "method": "GET", "op": "identity/vm",
                                 "fault": fault["status"] if fault else None})
        if fault is not None:  # IMDS's transient answers: 404 (identity being assigned), 410, 429, 5xx
            headers = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else {}
            return self.send_json(fault["status"], {"error": "temporarily_unavailable", "error_description": "injected fault"}, headers)
        identity = self.identity(query, ("client_id", "object_id", "msi_res_id"))
        if identity is None:
            return self.send_json(400, {"error": "invalid_request", "error_description": "Identity not found"})
        token, lifetime = issue("vm:" + identity["client_id"])
        now = int(time.time())
        self.send_json(200, {"access_token": token, "client_id": identity["client_id"], "expires_in": str(lifetime),
                             "expires_on": str(now + lifetime), "ext_expires_in": str(lifetime), "not_before": str(now),
                             "resource": query["resource"], "token_type": "Bearer"})

    def app_service(self, query):
        if self.headers.get("X-IDENTITY-HEADER") != CONFIG["identity_header"]:
            return self.send_json(401, {"statusCode": 401, "message": "The X-IDENTITY-HEADER is missing or wrong"})
        identity = self.identity(query, ("client_id", "object_id", "mi_res_id"))
        if identity is None:
            return self.send_json(400, {"statusCode": 400, "message": "Identity not found"})
        token, lifetime = issue("appservice:" + identity["client_id"])
        self.send_json(200, {"access_token": token, "expires_on": str(int(time.time()) + lifetime),
                             "resource": query.get("resource"), "token_type": "Bearer", "client_id": identity["client_id"]})

    # -- Key Vault ------------------------------------------------------------------------

    def challenge(self):
        self.send_json(401, {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}},
                       {"WWW-Authenticate": f'Bearer authorization="{BASE}/{TENANT}", resource="{VAULT_RESOURCE}"'})

    def key_vault(self, method, path, query, body):
        parts = path.strip("/").split("/")
        kind = parts[0]
        if kind == "keys" and parts[-1] in ("wrapkey", "unwrapkey"):
            op = f"keys/{parts[-1]}"
        elif kind == "secrets":
            op = "secrets/set" if method == "PUT" else "secrets/get"
        else:
            op = "keys/get"
        auth = self.headers.get("Authorization", "")
        token = TOKENS.get(auth[7:]) if auth.startswith("Bearer ") else None
        authorised = token is not None and token["expires"] > time.time()
        with LOCK:
            entry = {"t": round(time.monotonic() - STATE["started"], 3), "method": method, "path": path, "op": op,
                     "authorised": authorised, "who": token["who"] if authorised else None}
            STATE["log"].append(entry)
            fault = None
            if authorised and STATE["faults"] and STATE["faults"][0].get("op", op) == op:
                fault = STATE["faults"].pop(0)
            forbidden = op in STATE["forbid"]
        if query.get("api-version") is None:
            return self.send_json(400, {"error": {"code": "BadParameter", "message": "The 'api-version' query parameter is missing."}})
        if not authorised:
            return self.challenge()
        if fault is not None:
            entry["fault"] = fault["status"]
            headers = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else {}
            codes = {429: "Throttled", 500: "InternalServerError", 503: "ServiceUnavailable", 403: "Forbidden"}
            return self.send_json(fault["status"], {"error": {"code": codes.get(fault["status"], "Error"), "message": "injected fault"}}, headers)
        if forbidden:
            permission = {"secrets/get": "secrets get", "secrets/set": "secrets set", "keys/get": "keys get",
                          "keys/wrapkey": "keys wrapKey", "keys/unwrapkey": "keys unwrapKey"}[op]
            return self.send_json(403, {"error": {"code": "Forbidden", "message":
                f"The user, group or application 'appid={token['who']}' does not have {permission} permission on key vault 'fake;location=local'.",
                "innererror": {"code": "AccessDenied"}}})
        if kind == "secrets":
            return self.secret(method, parts, body)
        return self.key(parts, op, body)

    def secret(self, method, parts, body):
        name = parts[1] if len(parts) > 1 else ""
        now = int(time.time())
        if method == "PUT" and len(parts) == 2:
            request = json.loads(body or b"{}")
            if "value" not in request:
                return self.send_json(400, {"error": {"code": "BadParameter", "message": "Property 'value' is required."}})
            version = {"version": uuid.uuid4().hex, "value": request["value"], "created": now}
            with LOCK:
                SECRETS.setdefault(name, []).append(version)
            return self.send_json(200, self.secret_bundle(name, version))
        with LOCK:
            versions = SECRETS.get(name, [])
            version = versions[-1] if len(parts) == 2 and versions else next((v for v in versions if len(parts) > 2 and v["version"] == parts[2]), None)
        if version is None:
            return self.send_json(404, {"error": {"code": "SecretNotFound", "message":
                f"A secret with (name/id) {'/'.join(parts[1:])} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command."}})
        self.send_json(200, self.secret_bundle(name, version))

    def secret_bundle(self, name, version):
        return {"value": version["value"], "id": f"{BASE}/secrets/{name}/{version['version']}",
                "attributes": {"enabled": True, "created": version["created"], "updated": version["created"],
                               "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90}}

    def key(self, parts, op, body):
        name = parts[1]
        version = parts[2] if len(parts) > 2 and parts[2] not in ("wrapkey", "unwrapkey") else KEY_VERSION
        if name != KEY_NAME or version != KEY_VERSION:
            return self.send_json(404, {"error": {"code": "KeyNotFound", "message": f"A key with (name/id) {name}/{version} was not found in this key vault."}})
        kid = f"{BASE}/keys/{KEY_NAME}/{KEY_VERSION}"
        if op == "keys/get":
            numbers = RSA_KEY.public_key().public_numbers()
            return self.send_json(200, {"key": {"kid": kid, "kty": "RSA", "key_ops": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
                                                "n": b64url(numbers.n.to_bytes(256, "big")), "e": b64url(numbers.e.to_bytes(3, "big"))},
                                        "attributes": {"enabled": True, "recoveryLevel": "Recoverable+Purgeable"}})
        request = json.loads(body or b"{}")
        if request.get("alg") != "RSA-OAEP-256":
            return self.send_json(400, {"error": {"code": "BadParameter", "message": f"Algorithm '{request.get('alg')}' is not supported here; use RSA-OAEP-256."}})
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        try:
            value = unb64url(request["value"])
            result = RSA_KEY.public_key().encrypt(value, oaep) if op == "keys/wrapkey" else RSA_KEY.decrypt(value, oaep)
        except Exception:
            return self.send_json(400, {"error": {"code": "BadParameter", "message": "Error in decryption / encryption: the value is not valid for this key."}})
        self.send_json(200, {"kid": kid, "value": b64url(result)})


class DualServer(ThreadingHTTPServer):
    """Plain HTTP and TLS on one port: a TLS ClientHello starts with 0x16."""
    daemon_threads = True

    def __init__(self, address, handler):
        super().__init__(address, handler)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(CONFIG["tls_cert"], CONFIG["tls_key"])

    def finish_request(self, request, client_address):
        try:
            request.settimeout(10)
            first = request.recv(1, socket.MSG_PEEK)
            if first == b"\x16":
                request = self.tls.wrap_socket(request, server_side=True)
            request.settimeout(None)
        except (OSError, ssl.SSLError):
            return
        self.RequestHandlerClass(request, client_address, self)


server = DualServer(("127.0.0.1", PORT), Handler)
print(f"ready {PORT}", flush=True)
server.serve_forever()
