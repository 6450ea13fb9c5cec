# unseal-agent.hcl
vault { address = "unix:///run/vaultd/vaultd.sock" }     # or https://…, repeatable for several nodes
seal "awskms" {
  region             = "us-east-1"
  kms_key_id         = "alias/vault-unseal"
  endpoint           = ""                                 # e.g. a VPC endpoint or a test server
  ciphertext_path    = "/var/lib/unseal-agent/seal.enc"   # the wrapped key material
  encryption_context = { service = "vaultd" }
  priority           = 1
}
seal "azurekeyvault" {
  vault_name = "my-kv"         # or vault_uri = "https://my-kv.vault.azure.net"
  secret_name = "vault-unseal" # fetch mode …
  # key_name = "unseal-wrap"  ciphertext_path = "…"   # … or unwrap mode (RSA-OAEP-256)
  tenant_id = "…"  client_id = "…"  client_secret = "…"  # else workload / managed identity
  priority = 2
}
seal "file" { path = "/run/secrets/unseal-key" }   # docker secret, k8s secret, systemd credential
init      { enabled = true  secret_shares = 1  recovery_shares = 5  recovery_threshold = 3 }
telemetry { address = "127.0.0.1:9102" }          # /metrics, /healthz, /readyz
retry     { initial = "200ms"  max = "30s" }
