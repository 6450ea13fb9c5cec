"""Names the tests a Swift Testing log shows as started but never finished.

scripts/test runs it when the suite fails or is stopped at its time limit, so that a run that
hangs says where: `python3 Tests/unfinished_tests.py test-output.log`.
"""
import re
import sys

# Whole tests only: the cases of a parameterised test have a start line but no end line.
STARTED = re.compile(r'^◇ Test "(.*)" started\.$')
ENDED = re.compile(r'^\S+ Test "(.*)" (?:with \d+ test cases? )?(?:passed|failed)')


def unfinished(lines):
    running = {}
    for line in lines:
        if m := STARTED.match(line):
            running[m.group(1)] = running.get(m.group(1), 0) + 1
        elif m := ENDED.match(line):
            if running.get(m.group(1), 0) > 0:
                running[m.group(1)] -= 1
    return [name for name, count in running.items() if count > 0]


def main():
    with open(sys.argv[1], encoding="utf-8", errors="replace") as log:
        names = unfinished(line.rstrip("\n") for line in log)
    if names:
        print(f"==> {len(names)} test(s) started and never finished:")
        for name in names:
            print(f"    {name}")
    else:
        print("==> every test that started also finished")


if __name__ == "__main__":
    main()
