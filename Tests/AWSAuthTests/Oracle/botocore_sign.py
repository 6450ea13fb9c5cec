"""Sign requests with botocore's SigV4Auth (the oracle).

stdin: one JSON object per line: method, host, path (raw, unencoded), params ([[k, v], ...]),
headers ([[name, value], ...]), body (hex), access_key, secret_key, token (or null), region,
service, timestamp (YYYYmmddTHHMMSSZ). stdout: one JSON object per line with the
Authorization header and the canonical request botocore built.
"""
import datetime
import json
import sys

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

for line in sys.stdin:
    case = json.loads(line)
    fixed = datetime.datetime.strptime(case["timestamp"], "%Y%m%dT%H%M%SZ")
    botocore.auth.get_current_datetime = lambda fixed=fixed: fixed
    request = AWSRequest(
        method=case["method"],
        url=f"https://{case['host']}{case['path']}",
        params=dict(case["params"]),
        headers=dict(case["headers"]),
        data=bytes.fromhex(case["body"]),
    )
    auth = botocore.auth.SigV4Auth(
        Credentials(case["access_key"], case["secret_key"], case["token"]), case["service"], case["region"]
    )
    auth.add_auth(request)
    print(json.dumps({
        "authorization": request.headers["Authorization"],
        "canonical": auth.canonical_request(request),
    }), flush=True)
