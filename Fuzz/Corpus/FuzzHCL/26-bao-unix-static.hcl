storage "raft" {
  path = "/tmp/bao/raft"
  node_id = "n1"
}
listener "unix" {
  address = "/tmp/bao/bao.sock"
  socket_mode = "0600"
}
seal "static" {
  current_key_id = "20250101-1"
  current_key = "file:///tmp/bao/static.key"
}
disable_mlock = true
api_addr = "http://127.0.0.1:8200"
cluster_addr = "http://127.0.0.1:8201"
