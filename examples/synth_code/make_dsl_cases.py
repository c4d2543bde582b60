"""Reference cases for the C++ DSL evaluator (tests/cascade/test_cascade.cpp): random byte strings of the kind a
model writes (mostly DSL bytes, some noise), each parsed and evaluated by dsl.py.

    /usr/bin/python3 examples/synth_code/make_dsl_cases.py tests/data/dsl_cases.json

Output: a JSON list of {"src": str, "ok": bool, "values": [int, ...] (at INPUTS, only when ok)}; seed 7.
"""
import json
import random
import sys

import dsl

INPUTS = [-9, -5, -1, 0, 1, 2, 7, 9, 3037000500, -(2**63)]
ALPHABET = "x0123456789+-*()" * 4 + " /\nX"


def main(path):
    rng = random.Random(7)
    cases = []
    seen = set()
    while len(cases) < 600:
        if rng.random() < 0.5:  # a template answer with a few bytes changed
            t = dsl.make_task(rng)["answer"][:-1]
            s = list(t)
            for _ in range(rng.randint(0, 2)):
                i = rng.randrange(len(s) + 1)
                op = rng.random()
                if op < 0.4 and s:
                    s[min(i, len(s) - 1)] = rng.choice(ALPHABET)
                elif op < 0.7:
                    s.insert(i, rng.choice(ALPHABET))
                elif s:
                    del s[min(i, len(s) - 1)]
            src = "".join(s)
        else:
            src = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 14)))
        if src in seen:
            continue
        seen.add(src)
        try:
            tree = dsl.parse(src)
        except dsl.ParseError:
            cases.append({"src": src, "ok": False})
            continue
        cases.append({"src": src, "ok": True, "values": [dsl.evaluate(tree, x) for x in INPUTS]})
    with open(path, "w") as f:
        json.dump({"inputs": INPUTS, "cases": cases}, f, indent=0)
        f.write("\n")
    print(f"{len(cases)} cases, {sum(c['ok'] for c in cases)} parse")


if __name__ == "__main__":
    main(sys.argv[1])
