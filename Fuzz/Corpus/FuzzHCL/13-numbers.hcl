int      = 42
zero     = 0
negative = -17
float    = 3.25
negfloat = -0.5
exp      = 1e3
exp_neg  = 2.5e-3
big      = 9007199254740993
