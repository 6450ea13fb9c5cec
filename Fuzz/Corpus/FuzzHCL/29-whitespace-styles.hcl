	a	=	1
b="tight"
c = "value"
d = [
1,
  2
  ,3]
block	"tabs"	{	x	=	1	}
