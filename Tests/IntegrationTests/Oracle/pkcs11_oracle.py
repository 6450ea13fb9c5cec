"""The oracle for seal "pkcs11": python-pkcs11 (and cryptography for the local AES-GCM of the
RSA mode) doing what the agent does, in the agent's envelope format, against the same SoftHSM2
token. Material made here must open in the agent and the other way round.

usage: pkcs11_oracle.py keys   LIB TOKEN PIN             make the AES key "unseal-aes" and the RSA pair "unseal-rsa"
       pkcs11_oracle.py wrap   LIB TOKEN PIN ALGORITHM PATH   material from stdin → envelope at PATH
       pkcs11_oracle.py unwrap LIB TOKEN PIN PATH         envelope at PATH → material on stdout
"""
import base64
import json
import os
import sys

import pkcs11
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pkcs11 import MGF, KeyType, Mechanism, ObjectClass
from pkcs11.mechanisms import GCMParams

AAD = b"unseal-agent pkcs11 envelope v1"
# SoftHSM2 2.6 implements OAEP with SHA-1 only: the agent's rsa_oaep_hash = "sha1".
OAEP = {"sha1": (Mechanism.SHA_1, MGF.SHA1, None), "sha256": (Mechanism.SHA256, MGF.SHA256, None)}


def session(lib, token_label, pin):
    return pkcs11.lib(lib).get_token(token_label=token_label).open(rw=True, user_pin=pin)


def main():
    command, lib, token_label, pin = sys.argv[1:5]
    with session(lib, token_label, pin) as s:
        if command == "keys":
            s.generate_key(KeyType.AES, 256, label="unseal-aes", store=True)
            s.generate_keypair(KeyType.RSA, 2048, label="unseal-rsa", store=True)
            print("ok")
        elif command == "wrap":
            algorithm, path = sys.argv[5:7]
            material = sys.stdin.read().strip().encode()
            content = "shares" if material.startswith(b"[") else "key"
            if algorithm == "CKM_AES_GCM":
                key = s.get_key(object_class=ObjectClass.SECRET_KEY, label="unseal-aes")
                iv = os.urandom(12)
                ciphertext = key.encrypt(material, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, AAD, 128))
                envelope = {"version": 1, "mechanism": "pkcs11", "algorithm": algorithm, "key_label": "unseal-aes", "content": content,
                            "iv": base64.b64encode(iv).decode(), "ciphertext": base64.b64encode(ciphertext).decode()}
            else:
                public = s.get_key(object_class=ObjectClass.PUBLIC_KEY, label="unseal-rsa")
                data_key, nonce = os.urandom(32), os.urandom(12)
                sealed = nonce + AESGCM(data_key).encrypt(nonce, material, AAD)
                wrapped = public.encrypt(data_key, mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=OAEP["sha1"])
                envelope = {"version": 1, "mechanism": "pkcs11", "algorithm": algorithm, "key_label": "unseal-rsa", "content": content, "oaep_hash": "sha1",
                            "wrapped_key": base64.b64encode(wrapped).decode(), "ciphertext": base64.b64encode(sealed).decode()}
            with open(path, "w") as file:
                json.dump(envelope, file)
            os.chmod(path, 0o600)
        elif command == "unwrap":
            envelope = json.load(open(sys.argv[5]))
            ciphertext = base64.b64decode(envelope["ciphertext"])
            if envelope["algorithm"] == "CKM_AES_GCM":
                key = s.get_key(object_class=ObjectClass.SECRET_KEY, label=envelope["key_label"])
                material = key.decrypt(ciphertext, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(base64.b64decode(envelope["iv"]), AAD, 128))
            else:
                private = s.get_key(object_class=ObjectClass.PRIVATE_KEY, label=envelope["key_label"])
                data_key = private.decrypt(base64.b64decode(envelope["wrapped_key"]), mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=OAEP[envelope.get("oaep_hash", "sha256")])
                material = AESGCM(data_key).decrypt(ciphertext[:12], ciphertext[12:], AAD)
            sys.stdout.write(material.decode())


main()
