"""The synth-code DSL: reference parser/evaluator, task templates and task generator.

Grammar (bytes, no whitespace; see docs/models.md, section "synth-code DSL"):

    expr   := term   { ('+' | '-') term }      left-associative
    term   := factor { '*' factor }            left-associative, binds tighter than + and -
    factor := 'x' | digit | '(' expr ')'
    digit  := '0' | '1' | ... | '9'            single-digit literals only, no unary minus

Values are 64-bit two's-complement signed integers; every +, -, * wraps modulo 2**64.
"""
import random

MASK = (1 << 64) - 1


def wrap(v):
    v &= MASK
    return v - (1 << 64) if v >> 63 else v


class ParseError(ValueError):
    pass


def parse(src):
    """Parse a DSL expression (str or bytes) into a nested tuple AST; raises ParseError."""
    if isinstance(src, (bytes, bytearray)):
        try:
            src = bytes(src).decode("ascii")
        except UnicodeDecodeError as e:
            raise ParseError("non-ASCII byte") from e
    pos = 0

    def peek():
        return src[pos] if pos < len(src) else ""

    def factor():
        nonlocal pos
        c = peek()
        if c == "x":
            pos += 1
            return ("x",)
        if c != "" and c in "0123456789":
            pos += 1
            return ("lit", int(c))
        if c == "(":
            pos += 1
            e = expr()
            if peek() != ")":
                raise ParseError(f"expected ')' at {pos}")
            pos += 1
            return e
        raise ParseError(f"unexpected {c!r} at {pos}")

    def term():
        nonlocal pos
        left = factor()
        while peek() == "*":
            pos += 1
            left = ("*", left, factor())
        return left

    def expr():
        nonlocal pos
        left = term()
        while peek() in ("+", "-") and peek() != "":
            op = peek()
            pos += 1
            left = (op, left, term())
        return left

    tree = expr()
    if pos != len(src):
        raise ParseError(f"trailing input at {pos}")
    return tree


def evaluate(tree, x):
    k = tree[0]
    if k == "x":
        return wrap(x)
    if k == "lit":
        return tree[1]
    a, b = evaluate(tree[1], x), evaluate(tree[2], x)
    if k == "+":
        return wrap(a + b)
    if k == "-":
        return wrap(a - b)
    return wrap(a * b)


def run(src, x):
    return evaluate(parse(src), x)


def passes(answer, test_inputs, test_outputs):
    """A candidate passes if it parses and gives every hidden output."""
    try:
        tree = parse(answer)
    except ParseError:
        return False
    return all(evaluate(tree, int(i)) == int(o) for i, o in zip(test_inputs, test_outputs))


# Templates: (name, format string, ranges of the constants a, b, c).
TEMPLATES = [
    ("x+a", "x+{a}", dict(a=(1, 9))),
    ("x*a", "x*{a}", dict(a=(2, 9))),
    ("x*a+b", "x*{a}+{b}", dict(a=(2, 9), b=(1, 9))),
    ("x*a-b", "x*{a}-{b}", dict(a=(2, 9), b=(1, 9))),
    ("x*x+a", "x*x+{a}", dict(a=(1, 9))),
    ("x*x-a", "x*x-{a}", dict(a=(1, 9))),
    ("(x+a)*(x-b)", "(x+{a})*(x-{b})", dict(a=(1, 9), b=(1, 9))),
    ("(x-a)*b+c", "(x-{a})*{b}+{c}", dict(a=(1, 9), b=(2, 9), c=(1, 9))),
    ("x*x*x+a", "x*x*x+{a}", dict(a=(1, 9))),
    ("x*x*a+x*b+c", "x*x*{a}+x*{b}+{c}", dict(a=(2, 9), b=(1, 9), c=(1, 9))),
]
SHOWN_RANGE = (-5, 5)    # the 4 prompt inputs: distinct, drawn from this range, in random order
HIDDEN_RANGE = (-9, 9)   # the 8 hidden inputs: distinct, from this range minus the shown inputs
N_SHOWN, N_HIDDEN = 4, 8


def make_task(rng):
    t = rng.randrange(len(TEMPLATES))
    _, fmt, ranges = TEMPLATES[t]
    consts = {k: rng.randint(lo, hi) for k, (lo, hi) in ranges.items()}
    expr = fmt.format(**consts)
    shown = rng.sample(range(SHOWN_RANGE[0], SHOWN_RANGE[1] + 1), N_SHOWN)
    pool = [v for v in range(HIDDEN_RANGE[0], HIDDEN_RANGE[1] + 1) if v not in shown]
    hidden = sorted(rng.sample(pool, N_HIDDEN))
    tree = parse(expr)
    outs = [evaluate(tree, v) for v in shown]
    prompt = ";".join(f"f({i})={o}" for i, o in zip(shown, outs)) + "\n"
    return dict(template=t, prompt=prompt, answer=expr + "\n", io_inputs=shown, io_outputs=outs,
                test_inputs=hidden, test_outputs=[evaluate(tree, v) for v in hidden])


def self_test():
    cases = [("x*3+2", 1, 5), ("x*3+2", -3, -7), ("(x+1)*(x-1)", 4, 15), ("x*x-4", -2, 0),
             ("1-2-3", 0, -4), ("2*3+4*5", 0, 26), ("2+3*4", 0, 14), ("(2+3)*4", 0, 20),
             ("x-x*2", 7, -7), ("((x))", -5, -5), ("x*x*x*x", 3, 81), ("9-(1-x)", 2, 10),
             ("x*x", 2**32, 0), ("x+1", 2**63 - 1, -2**63), ("x*x*x+1", -2, -7)]
    for src, x, want in cases:
        got = run(src, x)
        assert got == want, (src, x, got, want)
    for bad in ["", "x+", "+x", "-1", "12", "x y", "x**2", "(x+1", "x+1)", "2x", "x/2", " x", "x\n", "X"]:
        try:
            parse(bad)
        except ParseError:
            continue
        raise AssertionError(f"parsed invalid {bad!r}")
    rng = random.Random(0)
    for _ in range(2000):
        task = make_task(rng)
        assert passes(task["answer"][:-1], task["test_inputs"], task["test_outputs"])
        assert task["prompt"].count(";") == N_SHOWN - 1 and task["prompt"].endswith("\n")
    return len(cases)


if __name__ == "__main__":
    print(f"DSL self-test passed ({self_test()} eval cases)")
    rng = random.Random(1)
    for _ in range(5):
        t = make_task(rng)
        print(repr(t["prompt"]), repr(t["answer"]), t["test_inputs"], t["test_outputs"])
