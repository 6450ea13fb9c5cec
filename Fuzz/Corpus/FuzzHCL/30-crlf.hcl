a = 1
b = "two"
block "c" {
  d = true
}
