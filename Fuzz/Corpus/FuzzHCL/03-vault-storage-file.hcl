storage "file" {
  path = "/mnt/vault/data"
}
