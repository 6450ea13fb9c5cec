"""A fake of Google Cloud KMS's REST API and the token endpoints the agent's identities use.
There is no emulator for Cloud KMS: this fake is proven first with Google's own clients
(gcp_fake_proof.py: google-cloud-kms over REST, google-auth's service-account and metadata
flows) before any agent test relies on it.

usage: gcp_fake.py PORT SETUP_DIR

Writes SETUP_DIR/setup.json: a service-account key file (its token_uri pointing here), a second
one whose identity lacks the KMS permission, an external-account (workload identity) file with
its subject token file, and the key's resource name. Serves on 127.0.0.1:PORT:

  POST /token                       OAuth 2.0: the JWT-bearer grant (RS256 checked against the
                                    service account's public key, aud and exp) → access token
  POST /v1/token                    STS token exchange (workload identity federation)
  GET  /computeMetadata/v1/...      the metadata server (Metadata-Flavor: Google required)
  POST /v1/{key}:encrypt|:decrypt   Cloud KMS, CRC32C integrity fields checked both ways; an
                                    access token or a service account's self-signed JWT
  POST /fault/fail?count=N          the next N KMS calls answer 503
  GET  /fault/log                   the KMS calls seen: [{"method", "identity", "status"}]

Prints "ready PORT".
"""
import base64
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PORT = int(sys.argv[1])
SETUP = sys.argv[2]
BASE = f"http://127.0.0.1:{PORT}"
LOCK = threading.Lock()
KEY_NAME = "projects/unseal-project/locations/global/keyRings/vault/cryptoKeys/unseal"
KEY_MATERIAL = AESGCM.generate_key(256)
TOKENS = {}   # access token → identity
FAULTS = {"fail": 0}
LOG = []

# CRC32C (Castagnoli), as Cloud KMS's integrity fields use it.
TABLE = []
for n in range(256):
    c = n
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    TABLE.append(c)


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc = TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def service_account(name):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    email = f"{name}@unseal-project.iam.gserviceaccount.com"
    return email, key.public_key(), {
        "type": "service_account", "project_id": "unseal-project", "private_key_id": uuid.uuid4().hex,
        "private_key": pem, "client_email": email, "client_id": "1", "token_uri": f"{BASE}/token",
    }


AGENT_EMAIL, AGENT_PUBLIC, AGENT_FILE = service_account("unseal-agent")
DENIED_EMAIL, DENIED_PUBLIC, DENIED_FILE = service_account("no-kms")
PUBLIC_KEYS = {AGENT_EMAIL: AGENT_PUBLIC, DENIED_EMAIL: DENIED_PUBLIC}
ALLOWED = {AGENT_EMAIL, "metadata:default", "workload:pool"}
SUBJECT_TOKEN = "subject-" + uuid.uuid4().hex
os.makedirs(SETUP, exist_ok=True)
subject_path = os.path.join(SETUP, "subject-token")
with open(subject_path, "w") as f:
    f.write(SUBJECT_TOKEN)
EXTERNAL = {
    "type": "external_account",
    "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/k8s",
    "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
    "token_url": f"{BASE}/v1/token",
    "credential_source": {"file": subject_path},
}
for name, content in (("agent-sa.json", AGENT_FILE), ("denied-sa.json", DENIED_FILE), ("external.json", EXTERNAL)):
    path = os.path.join(SETUP, name)
    with open(path, "w") as f:
        json.dump(content, f)
    os.chmod(path, 0o600)
with open(os.path.join(SETUP, "setup.json"), "w") as f:
    json.dump({"key_name": KEY_NAME, "agent_sa": os.path.join(SETUP, "agent-sa.json"), "denied_sa": os.path.join(SETUP, "denied-sa.json"),
               "external": os.path.join(SETUP, "external.json"), "subject_token": SUBJECT_TOKEN, "base": BASE}, f)


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(identity):
    token = "ya29." + uuid.uuid4().hex
    with LOCK:
        TOKENS[token] = identity
    return token


def self_signed(token):
    """A service account's self-signed JWT, as Google's API clients send instead of an access
    token (always_use_jwt_access): RS256 under the account's key, unexpired, for this API."""
    try:
        header, claims, signature = token.split(".")
        payload = json.loads(b64url_decode(claims))
        PUBLIC_KEYS[payload["iss"]].verify(b64url_decode(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
        if payload["exp"] < time.time() or not (payload.get("aud", "").startswith("https://cloudkms.googleapis.com") or "scope" in payload):
            return None
        return payload["iss"]
    except Exception:
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, extra=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, state, message):
        self.send(status, {"error": {"code": status, "message": message, "status": state}})

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/fault/log":
            with LOCK:
                return self.send(200, LOG)
        if path.startswith("/computeMetadata/v1"):
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.send(403, {"error": "Missing Metadata-Flavor:Google header"})
            flavor = {"Metadata-Flavor": "Google"}
            if path.endswith("/service-accounts/default/token"):
                return self.send(200, {"access_token": issue("metadata:default"), "expires_in": 3599, "token_type": "Bearer"}, flavor)
            if path.endswith("/service-accounts/default/email") or path.endswith("/service-accounts/default/"):
                return self.send(200, {"email": "default@unseal-project.iam.gserviceaccount.com", "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}, flavor)
            if path.endswith("/project/project-id"):
                return self.send(200, "unseal-project", flavor)
            return self.send(200, {}, flavor)
        self.error(404, "NOT_FOUND", "no such path")

    def do_POST(self):
        url = urlsplit(self.path)
        raw = self.body()
        if url.path == "/fault/fail":
            with LOCK:
                FAULTS["fail"] = int(parse_qs(url.query)["count"][0])
            return self.send(200, {})
        if url.path == "/token":
            form = parse_qs(raw.decode())
            if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
                return self.send(400, {"error": "unsupported_grant_type"})
            header, claims, signature = form["assertion"][0].split(".")
            payload = json.loads(b64url_decode(claims))
            public = PUBLIC_KEYS.get(payload.get("iss"))
            if json.loads(b64url_decode(header)).get("alg") != "RS256" or public is None:
                return self.send(400, {"error": "invalid_grant", "error_description": "unknown issuer or algorithm"})
            try:
                public.verify(b64url_decode(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
            except Exception:
                return self.send(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
            now = time.time()
            # Google's endpoint wants its own name as the audience, wherever the grant is posted
            # (google-auth sends exactly this).
            if payload.get("aud") != "https://oauth2.googleapis.com/token" or not (payload["iat"] - 300 <= now <= payload["exp"] + 300) or "scope" not in payload:
                return self.send(400, {"error": "invalid_grant", "error_description": "Invalid JWT: aud, iat/exp or scope"})
            return self.send(200, {"access_token": issue(payload["iss"]), "expires_in": 3599, "token_type": "Bearer"})
        if url.path == "/v1/token":
            form = parse_qs(raw.decode()) if "form" in self.headers.get("Content-Type", "") else {k: [v] for k, v in json.loads(raw).items()}
            if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:token-exchange"] or form.get("subject_token") != [SUBJECT_TOKEN] \
                    or form.get("audience") != [EXTERNAL["audience"]]:
                return self.send(400, {"error": "invalid_grant", "error_description": "subject token, audience or grant type"})
            return self.send(200, {"access_token": issue("workload:pool"), "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                                   "token_type": "Bearer", "expires_in": 3599})
        if url.path.startswith("/v1/") and ":" in url.path:
            return self.kms(url.path[len("/v1/"):], raw)
        self.error(404, "NOT_FOUND", "no such path")

    def kms(self, resource, raw):
        name, method = resource.rsplit(":", 1)
        token = self.headers.get("Authorization", "")[len("Bearer "):]
        with LOCK:
            identity = TOKENS.get(token) or self_signed(token)
            failing = FAULTS["fail"] > 0
            if failing:
                FAULTS["fail"] -= 1
        status = 200
        try:
            if failing:
                status = 503
                return self.error(503, "UNAVAILABLE", "The service is currently unavailable.")
            if identity is None:
                status = 401
                return self.error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
            if identity not in ALLOWED:
                status = 403
                permission = "cloudkms.cryptoKeyVersions.useToEncrypt" if method == "encrypt" else "cloudkms.cryptoKeyVersions.useToDecrypt"
                return self.error(403, "PERMISSION_DENIED", f"Permission '{permission}' denied on resource '{name}' (or it may not exist).")
            if name != KEY_NAME:
                status = 404
                return self.error(404, "NOT_FOUND", f"{name} not found.")
            body = json.loads(raw)
            if method == "encrypt":
                plaintext = base64.b64decode(body["plaintext"])
                if "plaintextCrc32c" in body and int(body["plaintextCrc32c"]) != crc32c(plaintext):
                    status = 400
                    return self.error(400, "INVALID_ARGUMENT", "The checksum in field plaintext_crc32c did not match the data in field plaintext.")
                nonce = os.urandom(12)
                ciphertext = b"\x01" + nonce + AESGCM(KEY_MATERIAL).encrypt(nonce, plaintext, name.encode())
                return self.send(200, {"name": f"{KEY_NAME}/cryptoKeyVersions/1", "ciphertext": base64.b64encode(ciphertext).decode(),
                                       "ciphertextCrc32c": str(crc32c(ciphertext)), "verifiedPlaintextCrc32c": "plaintextCrc32c" in body,
                                       "protectionLevel": "SOFTWARE"})
            if method == "decrypt":
                ciphertext = base64.b64decode(body["ciphertext"])
                if "ciphertextCrc32c" in body and int(body["ciphertextCrc32c"]) != crc32c(ciphertext):
                    status = 400
                    return self.error(400, "INVALID_ARGUMENT", "The checksum in field ciphertext_crc32c did not match the data in field ciphertext.")
                try:
                    plaintext = AESGCM(KEY_MATERIAL).decrypt(ciphertext[1:13], ciphertext[13:], name.encode())
                except Exception:
                    status = 400
                    return self.error(400, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.")
                return self.send(200, {"plaintext": base64.b64encode(plaintext).decode(), "plaintextCrc32c": str(crc32c(plaintext)),
                                       "usedPrimary": True, "protectionLevel": "SOFTWARE"})
            status = 404
            return self.error(404, "NOT_FOUND", f"no method {method}")
        finally:
            with LOCK:
                LOG.append({"method": method, "identity": identity or "", "status": status})


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
print(f"ready {PORT}", flush=True)
server.serve_forever()
