"""Proves gcp_fake.py with Google's own clients before any agent test relies on it:
google-auth's service-account flow (JWT-bearer grant), its metadata-server flow and its
workload-identity (external account) flow get tokens; google-cloud-kms over REST encrypts and
decrypts with CRC32C fields checked; an identity without the permission gets PermissionDenied.

usage: GCE_METADATA_HOST=127.0.0.1:PORT gcp_fake_proof.py SETUP_JSON     prints "proven" and the checks made
"""
import json
import sys

import google.auth.transport.requests
from google.api_core import exceptions
from google.auth import compute_engine, identity_pool
from google.cloud import kms
from google.oauth2 import service_account

setup = json.load(open(sys.argv[1]))
request = google.auth.transport.requests.Request()
scopes = ["https://www.googleapis.com/auth/cloudkms"]
checks = []

agent = service_account.Credentials.from_service_account_file(setup["agent_sa"], scopes=scopes)
agent.refresh(request)
assert agent.token and agent.valid
checks.append("google-auth service account: token")

metadata = compute_engine.Credentials()
metadata.refresh(request)
assert metadata.token
checks.append("google-auth metadata server: token")

workload = identity_pool.Credentials.from_info(json.load(open(setup["external"])), scopes=["https://www.googleapis.com/auth/cloud-platform"])
workload.refresh(request)
assert workload.token
checks.append("google-auth external account (workload identity): token")


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


for name, credentials in (("service account", agent), ("metadata server", metadata), ("workload identity", workload)):
    client = kms.KeyManagementServiceClient(credentials=credentials, transport="rest", client_options={"api_endpoint": setup["base"]})
    plaintext = b"seal material " + name.encode()
    answer = client.encrypt(request={"name": setup["key_name"], "plaintext": plaintext, "plaintext_crc32c": crc32c(plaintext)})
    assert answer.verified_plaintext_crc32c and answer.ciphertext_crc32c == crc32c(answer.ciphertext)
    opened = client.decrypt(request={"name": setup["key_name"], "ciphertext": answer.ciphertext, "ciphertext_crc32c": crc32c(answer.ciphertext)})
    assert opened.plaintext == plaintext and opened.plaintext_crc32c == crc32c(plaintext)
    checks.append(f"google-cloud-kms REST encrypt/decrypt with CRC32C ({name})")

denied = service_account.Credentials.from_service_account_file(setup["denied_sa"], scopes=scopes)
client = kms.KeyManagementServiceClient(credentials=denied, transport="rest", client_options={"api_endpoint": setup["base"]})
try:
    client.decrypt(request={"name": setup["key_name"], "ciphertext": b"x"})
    raise SystemExit("decrypt without the permission succeeded")
except (exceptions.PermissionDenied, exceptions.Forbidden):
    checks.append("google-cloud-kms: 403 (PermissionDenied) without the permission")
try:
    client = kms.KeyManagementServiceClient(credentials=agent, transport="rest", client_options={"api_endpoint": setup["base"]})
    client.encrypt(request={"name": setup["key_name"], "plaintext": b"x", "plaintext_crc32c": 1})
    raise SystemExit("a wrong CRC32C was accepted")
except (exceptions.InvalidArgument, exceptions.BadRequest):
    checks.append("google-cloud-kms: a wrong CRC32C is 400 (InvalidArgument)")
print("proven")
print("\n".join(checks))
