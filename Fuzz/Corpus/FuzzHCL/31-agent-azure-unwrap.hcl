seal "azurekeyvault" {
  vault_uri       = "https://my-kv.vault.azure.net"
  key_name        = "unseal-wrap"
  ciphertext_path = "/var/lib/unseal-agent/seal.azure.enc"
  environment     = "AzurePublicCloud"
  disable_challenge_resource_verification = false
  priority        = 2
}
