# vaultd.hcl
storage "sqlite"     { path = "/var/lib/vaultd/vault.db" }
# storage "postgresql" { connection_url = "postgres://…"  ha_enabled = true }
listener "unix" { address = "/run/vaultd/vaultd.sock"  socket_mode = "0660"  allowed_uids = [998] }
listener "tcp"  { address = "127.0.0.1:8200"  tls_cert_file = "…"  tls_key_file = "…" }
# listener "tcp" { address = "127.0.0.1:8200"  tls_disable = true }
seal_validation_hash = "0x…"        # optional
