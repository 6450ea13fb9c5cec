"""Prepare a moto server for the AWS tests, then turn its signature checking on.

Creates a KMS key (alias/vaultd-unseal); an IAM user "agent" allowed kms:Encrypt/Decrypt/GenerateRandom; a user
"denied" whose policy denies them; a role "web-role" (web identity trust, KMS allowed) and a session of it ("instance", for the
IMDS fake to hand out). Then
POST /moto-api/reset-auth with 0: from here on every request must be signed by a known key.
Prints {"key_id", "agent": {...}, "denied": {...}, "role_arn", "instance": {...}} as JSON.
"""
import json
import sys
import urllib.request

import boto3

url = sys.argv[1]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **kw)
kms = boto3.client("kms", **kw)
actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateRandom"]
key = kms.create_key(Description="unseal-agent test")["KeyMetadata"]["KeyId"]
kms.create_alias(AliasName="alias/vaultd-unseal", TargetKeyId=key)  # the name docs/deploy-ec2.md uses
out = {"key_id": key}
for name, effect in (("agent", "Allow"), ("denied", "Deny")):
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="kms", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": actions, "Resource": "*"}]}))
    access = iam.create_access_key(UserName=name)["AccessKey"]
    out[name] = {"access_key": access["AccessKeyId"], "secret_key": access["SecretAccessKey"]}
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.example"},
                                                  "Action": "sts:AssumeRoleWithWebIdentity"}]}
role = iam.create_role(RoleName="web-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
iam.put_role_policy(RoleName="web-role", PolicyName="kms", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
out["role_arn"] = role
# Temporary credentials of that role, as an instance profile would hand out through IMDS
# (moto accepts a session token only for credentials its STS issued).
session = boto3.client("sts", **kw).assume_role(RoleArn=role, RoleSessionName="i-0123456789abcdef0")["Credentials"]
out["instance"] = {"access_key": session["AccessKeyId"], "secret_key": session["SecretAccessKey"], "token": session["SessionToken"]}
request = urllib.request.Request(url + "/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"})
urllib.request.urlopen(request).read()
print(json.dumps(out), flush=True)
