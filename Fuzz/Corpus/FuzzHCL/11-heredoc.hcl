policy = <<EOF
path "secret/*" {
  capabilities = ["read"]
}
EOF
other = "after"
