zero { a = 1 }
one "l1" { a = 2 }
two "l1" "l2" { a = 3 }
three "l1" "l2" "l3" { a = 4 }
unquoted bare { a = 5 }
