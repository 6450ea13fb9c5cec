empty = {}
single = { a = 1 }
multi = {
  a = 1
  b = "two"
  c = [true]
}
commas = { x = 1, y = 2, }
quoted = { "key with space" = 1, "a-b" = 2 }
colon = { a: 1, b: "c" }
nested = { inner = { deep = { deeper = "yes" } } }
