# /etc/vaultd/vaultd.hcl
storage "sqlite" { path = "/var/lib/vaultd/vault.db" }
listener "unix" {
  address     = "/run/vaultd/vaultd.sock"
  socket_mode = "0660"
}
listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = true   # loopback only; use tls_cert_file/tls_key_file for anything else
}
log_level = "info"
# The audit log: every request and answer, tokens and values as HMACs. Uncomment to enable;
# `systemctl reload vaultd` (SIGHUP) applies it and reopens the file after logrotate.
# audit "file" "file" {
#   options { file_path = "/var/log/vaultd/audit.log" }
# }
