#!/usr/bin/python3
"""Randomised oracle test for libs/num: feeds a few thousand generated cases (fixed seed) through
num_oracle_main and compares every answer with Python's decimal module applying DynamoDB's rules.

Usage: num_oracle_test.py <path to num_oracle_main> [seed] [cases]
"""
import decimal
import random
import re
import subprocess
import sys
from decimal import Decimal

GRAMMAR = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
ADJ_MAX, ADJ_MIN, DIGITS_MAX = 125, -130, 38

# Exact arithmetic would need no context; the 38-digit context with Inexact trapped is what says
# "this result needs more than 38 significant digits" (AWS reports that as overflow).
CTX38 = decimal.Context(prec=DIGITS_MAX, Emax=999999, Emin=-999999, traps=[decimal.Inexact])
WIDE = decimal.Context(prec=100000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


def sig(d):
    """(sign, significant digit string, exponent of the last digit) of a non-zero Decimal."""
    sign, digits, exp = d.as_tuple()
    s = "".join(map(str, digits)).lstrip("0")
    stripped = s.rstrip("0")
    return sign, stripped, exp + (len(s) - len(stripped))


def canonical(d):
    if d == 0:
        return "0"
    sign, s, exp = sig(d)
    if exp >= 0:
        body = s + "0" * exp
    else:
        point = len(s) + exp
        body = s[:point] + "." + s[point:] if point > 0 else "0." + "0" * -point + s
    return ("-" if sign else "") + body


def check_range(d, digits_kind):
    """DynamoDB's answer for an exact value d, with digits_kind for >38 digits."""
    if d == 0:
        return "OK 0"
    _, s, exp = sig(d)
    adj = exp + len(s) - 1
    if adj > ADJ_MAX:
        return "ERR OVERFLOW"
    if adj < ADJ_MIN:
        return "ERR UNDERFLOW"
    if len(s) > DIGITS_MAX:
        return "ERR " + digits_kind
    return "OK " + canonical(d)


def want_parse(text):
    if not GRAMMAR.match(text):
        return "ERR NOT_NUMERIC"
    return check_range(Decimal(text), "DIGITS")


def want_arith(op, a, b):
    x, y = Decimal(a), Decimal(b)
    try:
        r = CTX38.add(x, y) if op == "add" else CTX38.subtract(x, y)
    except decimal.Inexact:
        return "ERR OVERFLOW"
    return check_range(r, "OVERFLOW")


def want_cmp(a, b):
    x, y = Decimal(a), Decimal(b)
    return str((x > y) - (x < y))


def want_size(a):
    d = Decimal(a)
    if d == 0:
        return "1"
    sign, s, exp = sig(d)
    n, adj = len(s), exp + len(s) - 1
    return str(1 + (n + 1) // 2 + (1 if n % 2 == 0 and adj % 2 == 0 else 0) + (1 if sign else 0))


def render(rng, sign, digits, exp):
    """Some valid spelling of (-1)^sign * int(digits) * 10^exp."""
    style = rng.randrange(5)
    sg = "-" if sign else rng.choice(["", "", "+"])
    if style == 0:   # integer digits with exponent
        return "%s%s%s%d" % (sg, digits, rng.choice("eE"), exp)
    if style == 1:   # d.ddd with the leading digit's exponent, maybe padded
        adj = exp + len(digits) - 1
        m = digits[0]
        if len(digits) > 1 or rng.random() < 0.3:
            m += "." + digits[1:] + "0" * rng.randrange(3)
        es = ("+" if rng.random() < 0.5 else "") if adj >= 0 else ""
        return "%s%s%s%s%s%d" % (sg, "0" * rng.randrange(3), m, rng.choice("eE"), es, adj)
    # plain decimal, with leading/trailing zero noise
    text = canonical(Decimal((0, tuple(map(int, digits)), exp)))
    if style == 3:
        text = "0" * rng.randrange(1, 4) + text
    if style == 4 and "." in text:
        text = text + "0" * rng.randrange(1, 4)
    if text.startswith("0.") and rng.random() < 0.3:
        text = text[1:]
    return sg + text


def rand_digits(rng, maxn=DIGITS_MAX):
    n = rng.choice([1, 1, 2, 3, 5, 10, 19, 20, 37, 38, rng.randint(1, maxn)])
    n = min(n, maxn)
    d = str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(n - 1))
    if n > 1:
        d = d[:-1] + str(rng.randint(1, 9))
    return d


def rand_valid(rng, adj_lo=ADJ_MIN, adj_hi=ADJ_MAX):
    if rng.random() < 0.03:
        return rng.choice(["0", "-0", "0.000", "+0e5"])
    digits = rand_digits(rng)
    adj = rng.randint(adj_lo, adj_hi)
    return render(rng, rng.random() < 0.5, digits, adj - len(digits) + 1)


def rand_parse_input(rng):
    r = rng.random()
    if r < 0.25:   # junk over the number alphabet
        return "".join(rng.choice("0123456789+-.eE") for _ in range(rng.randint(1, 10)))
    if r < 0.45:   # around the limits, and too many digits
        digits = rand_digits(rng, 45) if rng.random() < 0.5 else rand_digits(rng)
        adj = rng.choice([ADJ_MAX, ADJ_MAX + 1, ADJ_MIN, ADJ_MIN - 1, rng.randint(-140, 135)])
        return render(rng, rng.random() < 0.5, digits, adj - len(digits) + 1)
    if r < 0.5:   # 39+ digits hidden by zeros
        digits = rand_digits(rng, 38)
        return "0" * rng.randint(0, 5) + digits + "." + "0" * rng.randint(0, 5)
    return rand_valid(rng)


def rand_pair(rng):
    a = rand_valid(rng)
    if rng.random() < 0.6:   # nearby exponents so that results are often representable
        _, s, exp = sig(Decimal(a)) if Decimal(a) != 0 else (0, "1", 0)
        adj = exp + len(s) - 1
        lo, hi = max(ADJ_MIN, adj - 40), min(ADJ_MAX, adj + 2)
        b = rand_valid(rng, lo, hi)
    elif rng.random() < 0.3:   # near cancellation
        b = a if rng.random() < 0.5 else a.lstrip("+-")
    else:
        b = rand_valid(rng)
    return a, b


def main():
    driver = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 20240611
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 6000
    rng = random.Random(seed)
    decimal.setcontext(WIDE)
    lines, wants = [], []
    for _ in range(count):
        op = rng.choice(["parse", "parse", "add", "sub", "cmp", "size"])
        if op == "parse":
            a = rand_parse_input(rng)
            lines.append("parse " + a)
            wants.append(want_parse(a))
        elif op == "size":
            a = rand_valid(rng)
            lines.append("size " + a)
            wants.append(want_size(a))
        else:
            a, b = rand_pair(rng)
            lines.append("%s %s %s" % (op, a, b))
            wants.append(want_cmp(a, b) if op == "cmp" else want_arith(op, a, b))
    out = subprocess.run([driver], input="\n".join(lines) + "\n", capture_output=True,
                         text=True, check=True).stdout.splitlines()
    if len(out) != len(lines):
        print("driver printed %d lines for %d inputs" % (len(out), len(lines)))
        return 1
    bad = 0
    kinds = {}
    for line, want, got in zip(lines, wants, out):
        kinds[line.split()[0]] = kinds.get(line.split()[0], 0) + 1
        if want != got:
            bad += 1
            if bad <= 30:
                print("MISMATCH %-60s want %-40s got %s" % (line, want, got))
    oks = sum(1 for w in wants if w.startswith("OK"))
    errs = sum(1 for w in wants if w.startswith("ERR"))
    print("%d cases (%s), %d OK results, %d ERR results, %d mismatches, seed %d" %
          (len(lines), ", ".join("%s %d" % kv for kv in sorted(kinds.items())), oks, errs, bad,
           seed))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
