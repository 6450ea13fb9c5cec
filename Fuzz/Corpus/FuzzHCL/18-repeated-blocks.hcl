listener "tcp" { address = "127.0.0.1:8200" }
listener "tcp" { address = "127.0.0.1:8300" }
listener "unix" { address = "/run/a.sock" }
seal "file" { path = "/a" }
seal "env" {}
