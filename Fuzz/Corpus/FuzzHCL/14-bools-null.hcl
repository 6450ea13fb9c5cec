yes  = true
no   = false
none = null
