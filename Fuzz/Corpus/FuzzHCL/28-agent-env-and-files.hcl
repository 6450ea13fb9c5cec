vault { address = "unix:///run/vaultd/vaultd.sock" }
vault { address = "https://10.0.0.2:8200"  ca_cert = "/etc/ssl/ca.pem" }
seal "file" {
  path = "/run/credentials/unseal-agent.service/unseal-key"
  allow_insecure_permissions = false
  priority = 1
}
seal "env" { priority = 9 }
init {
  enabled = true
  secret_shares = 3
  secret_threshold = 2
  root_token = "file:/var/lib/unseal-agent/root-token"
}
log_format = "json"
