empty    = []
ints     = [1, 2, 3]
strings  = ["a", "b",]
mixed    = [1, "two", true, null, 2.5]
nested   = [[1, 2], [], ["x"]]
multiline = [
  "one",
  "two",
  "three",
]
