# /etc/unseal-agent/agent.hcl
vault { address = "unix:///run/vaultd/vaultd.sock" }
# The key arrives as a systemd credential (LoadCredential=unseal-key:…): a relative path is
# read from $CREDENTIALS_DIRECTORY.
seal "file" { path = "unseal-key" }
# On AWS, instead (see docs/deploy-ec2.md):
# seal "awskms" {
#   kms_key_id         = "alias/vaultd-unseal"
#   ciphertext_path    = "/var/lib/unseal-agent/seal.enc"
#   encryption_context = { service = "vaultd" }
# }
telemetry { address = "127.0.0.1:9102" }
retry     { initial = "200ms"  max = "30s" }
