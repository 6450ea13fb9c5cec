// line comment
# hash comment
/* block
   comment */
a = 1 // trailing
b = "x" # trailing
/* inline */ c = true
d = "y" /* after value */
