"""Proves the Azure fake against Microsoft's own Python clients before the agent is judged by it.

usage: azure_proof.py PORT SETUP_JSON      prints {"case": "ok" | "error text", …} as JSON

Each credential kind of azure-identity gets a token from the fake and uses it with
azure-keyvault-secrets' SecretClient (set, then get the secret); CryptographyClient of
azure-keyvault-keys unwraps what `cryptography`'s RSA-OAEP(SHA-256) wrapped with the key's public
half, and wraps what is then unwrapped locally. Errors are checked where the fake must refuse.
"""
import base64
import json
import os
import sys

port, setup = int(sys.argv[1]), json.loads(sys.argv[2])
base = f"https://127.0.0.1:{port}"
os.environ["REQUESTS_CA_BUNDLE"] = setup["tls_cert"]
os.environ["SSL_CERT_FILE"] = setup["tls_cert"]
for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST"):
    os.environ.pop(name, None)

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError  # noqa: E402
from azure.identity import (CertificateCredential, ClientSecretCredential, ManagedIdentityCredential,  # noqa: E402
                            WorkloadIdentityCredential)
from azure.keyvault.keys import KeyClient  # noqa: E402
from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm  # noqa: E402
from azure.keyvault.secrets import SecretClient  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402

tenant = setup["tenant"]
common = dict(authority=base, disable_instance_discovery=True)
results = {}


def case(name, make_credential, environment=None):
    saved = dict(os.environ)
    os.environ.update(environment or {})
    try:
        credential = make_credential()
        client = SecretClient(vault_url=base, credential=credential, verify_challenge_resource=False)
        client.set_secret(f"proof-{name}", f"value-{name}")
        value = client.get_secret(f"proof-{name}").value
        results[name] = "ok" if value == f"value-{name}" else f"read back {value!r}"
    except Exception as error:  # reported, not raised: the Swift test prints which case failed
        results[name] = f"{type(error).__name__}: {error}"[:400]
    finally:
        os.environ.clear()
        os.environ.update(saved)


case("client_secret", lambda: ClientSecretCredential(tenant, setup["secret_client"]["client_id"], setup["secret_client"]["secret"], **common))
case("client_certificate", lambda: CertificateCredential(tenant, setup["certificate_client"]["client_id"], setup["certificate_client"]["certificate"], **common))
case("workload_identity", lambda: WorkloadIdentityCredential(tenant_id=tenant, client_id=setup["workload_client"]["client_id"],
                                                             token_file_path=setup["workload_client"]["token_file"], **common))
case("vm_managed_identity", lambda: ManagedIdentityCredential(), {"AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://127.0.0.1:{port}"})
case("vm_user_assigned", lambda: ManagedIdentityCredential(client_id=setup["managed_identities"][1]["client_id"]),
     {"AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://127.0.0.1:{port}"})
case("app_service", lambda: ManagedIdentityCredential(),
     {"IDENTITY_ENDPOINT": f"http://127.0.0.1:{port}/msi/token", "IDENTITY_HEADER": setup["identity_header"]})

credential = ClientSecretCredential(tenant, setup["secret_client"]["client_id"], setup["secret_client"]["secret"], **common)

# Refusals as Azure words them.
try:
    ClientSecretCredential(tenant, setup["secret_client"]["client_id"], "wrong", **common).get_token("https://vault.azure.net/.default")
    results["wrong_secret"] = "accepted"
except ClientAuthenticationError as error:
    results["wrong_secret"] = "ok" if "AADSTS7000215" in str(error) else str(error)[:300]
try:
    SecretClient(vault_url=base, credential=credential, verify_challenge_resource=False).get_secret("absent")
    results["not_found"] = "found"
except ResourceNotFoundError as error:
    results["not_found"] = "ok" if error.error.code == "SecretNotFound" else str(error)[:300]

# RSA-OAEP-256: cryptography wraps with the public key, Key Vault unwraps; and back.
try:
    key = KeyClient(vault_url=base, credential=credential, verify_challenge_resource=False).get_key(setup.get("key_name", "unseal-wrap"))
    crypto = CryptographyClient(key, credential=credential, verify_challenge_resource=False)
    n = int.from_bytes(key.key.n, "big")
    e = int.from_bytes(key.key.e, "big")
    public = rsa.RSAPublicNumbers(e, n).public_key()
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    secret = os.urandom(32)
    unwrapped = crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, public.encrypt(secret, oaep)).key
    results["unwrap"] = "ok" if unwrapped == secret else "mismatch"
    remote = CryptographyClient(key.id, credential=credential, verify_challenge_resource=False)
    wrapped = remote.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, secret).encrypted_key
    results["wrap"] = "ok" if remote.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped).key == secret else "mismatch"
except Exception as error:
    results["unwrap"] = f"{type(error).__name__}: {error}"[:400]

print(json.dumps(results))
