outer "o" {
  x = 1
  inner "i" {
    y = 2
    innermost {
      z = 3
    }
  }
  inner "j" { y = 4 }
}
