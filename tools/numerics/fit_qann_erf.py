#!/usr/bin/python3
"""Fits the rational erf of the QANN's GELU (ann_baseline/src/qann.cpp, qann_erf) and checks it in float32.

    /usr/bin/python3 tools/numerics/fit_qann_erf.py

erf(x) ~ t * P(t^2) / Q(t^2) with t = clamp(x, -4, 4), P of degree 5 and Q of degree 5 (Q(0) = 1) in t^2,
evaluated by Horner with one rounding per multiply and per add (no FMA), then one multiply and one divide.
Every operation is a correctly rounded IEEE float op, so C++ (built with -ffp-contract=off) and ONNX Runtime's
Mul/Add/Div nodes compute the same bits. The fit: weighted linear least squares on x*P - erf(x)*Q = 0 over
6,000 Chebyshev points of [0, 4] (variable u = t^2/16 for conditioning), reweighted 40 times by 1/|Q| (Loeb)
and by the residual (Lawson), deterministic (no randomness). Prints the coefficients as C++ float literals
and the largest |error| against math.erf over [-6, 6] in float32 evaluation.
"""
import math

import numpy as np

CLAMP = 4.0
M = N = 5


def fit(m=M, n=N, iters=40):
    x = np.cos(np.linspace(np.pi, 0, 6000)) * CLAMP / 2 + CLAMP / 2
    x = x[x > 1e-6]
    u = x * x / 16
    f = np.array([math.erf(v) for v in x])
    w = np.ones_like(x)
    lawson = np.ones_like(x)
    for _ in range(iters):
        a = np.hstack([x[:, None] * u[:, None] ** np.arange(m + 1), -(f[:, None] * u[:, None] ** np.arange(1, n + 1))])
        sol, *_ = np.linalg.lstsq(a * (w * lawson)[:, None], f * w * lawson, rcond=None)
        p, q = sol[: m + 1], np.concatenate([[1.0], sol[m + 1:]])
        qv = np.polyval(q[::-1], u)
        r = x * np.polyval(p[::-1], u) / qv - f
        w = 1 / np.abs(qv)
        lawson = lawson * (1 + np.abs(r) / np.abs(r).max())
    return (p / 16.0 ** np.arange(m + 1)).astype(np.float32), (q / 16.0 ** np.arange(n + 1)).astype(np.float32)


def erf32(p, q, x):
    x = np.asarray(x, np.float32)
    t = np.minimum(np.maximum(x, np.float32(-CLAMP)), np.float32(CLAMP))
    z = np.float32(t * t)
    pv = np.full_like(z, p[-1])
    for c in p[-2::-1]:
        pv = np.float32(np.float32(pv * z) + c)
    qv = np.full_like(z, q[-1])
    for c in q[-2::-1]:
        qv = np.float32(np.float32(qv * z) + c)
    return np.float32(np.float32(t * pv) / qv)


def main():
    p, q = fit()
    xs = np.linspace(-6, 6, 1200001).astype(np.float32)
    ref = np.array([math.erf(float(v)) for v in xs])
    err = float(np.abs(erf32(p, q, xs).astype(np.float64) - ref).max())
    print("P (t^2 powers 0..5):", ", ".join(f"{float(c):.9g}f" for c in p))
    print("Q (t^2 powers 0..5):", ", ".join(f"{float(c):.9g}f" for c in q))
    print(f"max |erf32 - erf| on [-6, 6]: {err:.3g}")


if __name__ == "__main__":
    main()
