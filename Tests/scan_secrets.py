"""Looks for every secret the test suite created in every log it kept (issue 8).

usage: scan_secrets.py LEDGER FILE_OR_DIRECTORY...

LEDGER holds one base64-encoded secret per line (Tests/TestSupport/SecretLedger.swift): seal-key
phrases, base64/hex keys, Shamir shares, root tokens. Each is searched in every form a leak
could take — a phrase also as its key's hex and base64, a base64 or hex key also as its phrase
(the trezor reference `mnemonic` converts) — in every file given (directories: every file in
them). Prints where each hit is and which kind of secret it is, never the secret; exits 1 on
any hit.
"""
import base64
import binascii
import os
import sys

from mnemonic import Mnemonic

english = Mnemonic("english")


def forms(secret):
    """(kind, text) pairs a leak of `secret` could show."""
    found = [("as recorded", secret)]
    words = secret.split()
    if len(words) in (12, 24) and english.check(secret):
        entropy = bytes(english.to_entropy(secret))
        found += [("phrase as hex", entropy.hex()), ("phrase as base64", base64.b64encode(entropy).decode())]
    raw = None
    try:
        raw = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        if len(secret) == 64:
            try:
                raw = bytes.fromhex(secret)
            except ValueError:
                pass
    if raw is not None and len(raw) == 32:
        found += [("key as phrase", english.to_mnemonic(raw)), ("key as hex", raw.hex()), ("key as base64", base64.b64encode(raw).decode())]
    elif raw is not None and len(raw) >= 16:
        found += [("share/token as hex", raw.hex()), ("share/token as base64", base64.b64encode(raw).decode())]
    return [(kind, text) for kind, text in found if len(text) >= 16]


def files(paths):
    for path in paths:
        if os.path.isdir(path):
            for directory, _, names in os.walk(path):
                for name in names:
                    yield os.path.join(directory, name)
        elif os.path.exists(path):
            yield path


def main():
    ledger, targets = sys.argv[1], sys.argv[2:]
    secrets = set()
    if os.path.exists(ledger):
        for line in open(ledger):
            line = line.strip()
            if line:
                secrets.add(base64.b64decode(line).decode("utf-8", "replace"))
    needles = {}
    for secret in secrets:
        for kind, text in forms(secret):
            needles.setdefault(text.encode(), kind)
    hits, scanned, size = 0, 0, 0
    for path in files(targets):
        data = open(path, "rb").read()
        scanned += 1
        size += len(data)
        for needle, kind in needles.items():
            offset = data.find(needle)
            if offset >= 0:
                hits += 1
                print(f"LEAK: {path} holds a secret ({kind}) at byte {offset}")
    print(f"secret scan: {len(secrets)} secrets in {len(needles)} forms, {scanned} files ({size / 1e6:.1f} MB): {hits} hits")
    sys.exit(1 if hits else 0)


if __name__ == "__main__":
    main()
