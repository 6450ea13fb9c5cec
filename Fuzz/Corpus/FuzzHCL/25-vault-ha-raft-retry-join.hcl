storage "raft" {
  path    = "/vault/data"
  node_id = "node1"

  retry_join {
    leader_api_addr = "https://node2.vault.local:8200"
    leader_ca_cert_file = "/path/to/ca1"
  }
  retry_join {
    leader_api_addr = "https://node3.vault.local:8200"
  }
}
