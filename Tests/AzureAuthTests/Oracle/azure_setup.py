"""Writes what the Azure fake and its clients need into DIR and prints it as JSON.

usage: azure_setup.py DIR

- tls.crt / tls.key: a self-signed certificate for 127.0.0.1 (the fake's TLS; clients trust tls.crt)
- client.pem: a client certificate and its key in one PEM (certificate credential), client.crt
- federated-token: a workload identity token file
- fake.json: the fake's CONFIG (tenant, clients, managed identities, identity header)
"""
import datetime
import ipaddress
import json
import os
import secrets
import sys
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def certificate(common_name, ip=None):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=2)))
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip)), x509.DNSName("localhost")]), critical=False)
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    cert = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


directory = sys.argv[1]
os.makedirs(directory, exist_ok=True)
path = lambda name: os.path.join(directory, name)

tls_cert, tls_key = certificate("127.0.0.1", ip="127.0.0.1")
open(path("tls.crt"), "wb").write(tls_cert)
open(path("tls.key"), "wb").write(tls_key)
client_cert, client_key = certificate("unseal-agent-client")
open(path("client.crt"), "wb").write(client_cert)
with open(path("client.pem"), "wb") as f:
    f.write(client_key + client_cert)
os.chmod(path("client.pem"), 0o600)
federated = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dmF1bHQ6dW5zZWFsLWFnZW50In0." + secrets.token_urlsafe(32)
open(path("federated-token"), "w").write(federated)

tenant = str(uuid.uuid4())
out = {
    "tenant": tenant,
    "secret_client": {"client_id": str(uuid.uuid4()), "secret": secrets.token_urlsafe(24)},
    "certificate_client": {"client_id": str(uuid.uuid4()), "certificate": path("client.pem")},
    "workload_client": {"client_id": str(uuid.uuid4()), "token_file": path("federated-token")},
    "managed_identities": [
        {"client_id": str(uuid.uuid4()), "object_id": str(uuid.uuid4()), "msi_res_id": "/subscriptions/0/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/system"},
        {"client_id": str(uuid.uuid4()), "object_id": str(uuid.uuid4()), "msi_res_id": "/subscriptions/0/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/second"},
    ],
    "identity_header": secrets.token_hex(16),
    "tls_cert": path("tls.crt"),
    "config": path("fake.json"),
}
fake = {
    "tenant": tenant, "tls_cert": path("tls.crt"), "tls_key": path("tls.key"),
    "clients": {
        out["secret_client"]["client_id"]: {"secret": out["secret_client"]["secret"]},
        out["certificate_client"]["client_id"]: {"certificate": path("client.crt")},
        out["workload_client"]["client_id"]: {"federated_token": federated},
    },
    "managed_identities": out["managed_identities"],
    "identity_header": out["identity_header"],
}
json.dump(fake, open(path("fake.json"), "w"))
print(json.dumps(out))
