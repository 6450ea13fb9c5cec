"""Compare our parser's output with python-hcl2 (the oracle).

stdin: a JSON object mapping each corpus file path to the value our parser produced, already
laid out as python-hcl2 lays out its result (blocks as lists of label-keyed dicts). For each
file, python-hcl2 parses the same file and the two values are compared with ==, so 1000 and
1000.0 are equal as JSON numbers. Prints one line per file: "OK path" or "MISMATCH path" with
both values, and a final "compared N" line.
"""
import json
import sys

import hcl2

ours = json.load(sys.stdin)
for path, value in sorted(ours.items()):
    with open(path, encoding="utf-8") as handle:
        expected = hcl2.load(handle)
    if expected == value:
        print(f"OK {path}")
    else:
        print(f"MISMATCH {path}")
        print(f"  python-hcl2: {json.dumps(expected, sort_keys=True)}")
        print(f"  ours:        {json.dumps(value, sort_keys=True)}")
print(f"compared {len(ours)}")
