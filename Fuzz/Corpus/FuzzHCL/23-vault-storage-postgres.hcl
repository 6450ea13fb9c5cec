storage "postgresql" {
  connection_url = "postgres://user123:secret123!@localhost:5432/vault"
  table          = "vault_kv_store"
  ha_enabled     = "true"
  max_parallel   = "128"
}
