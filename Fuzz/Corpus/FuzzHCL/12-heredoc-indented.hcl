block {
  text = <<-EOT
    first
      second
    third
    EOT
}
