"""Certificates for a TLS peer that demands a client certificate: a CA, a server certificate
whose only name is DNS `transit.internal` (no IP address: a client that connects to 127.0.0.1
must be told the name with tls_server_name), and a client certificate, all signed by the CA.

Usage: tls_certificates.py DIRECTORY — writes ca.pem, server.pem, server-key.pem, client.pem,
client-key.pem.
"""
import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DIRECTORY = sys.argv[1]
os.makedirs(DIRECTORY, exist_ok=True)
now = datetime.datetime.now(datetime.timezone.utc)


def write(name, value):
    if isinstance(value, x509.Certificate):
        data = value.public_bytes(serialization.Encoding.PEM)
    else:
        data = value.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with open(os.path.join(DIRECTORY, name), "wb") as f:
        f.write(data)


def builder(subject, issuer, public_key):
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1)))


ca_key = ec.generate_private_key(ec.SECP256R1())
ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unseal-agent test CA")])
ca = (builder(ca_name, ca_name, ca_key.public_key())
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
write("ca.pem", ca)

for role, usage, names in [("server", ExtendedKeyUsageOID.SERVER_AUTH, ["transit.internal"]),
                           ("client", ExtendedKeyUsageOID.CLIENT_AUTH, [])]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "unseal-agent")])
    certificate = builder(subject, ca_name, key.public_key()).add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if names:
        certificate = certificate.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    write(f"{role}.pem", certificate.sign(ca_key, hashes.SHA256()))
    write(f"{role}-key.pem", key)
