#!/usr/bin/python3
"""Independent bracket on the epsilon of the Poisson-subsampled Gaussian.

For each setting (q, sigma, T, delta), under add/remove adjacency (both
orders of the pair, the worse taken), this computes
  lower: optimistic discretisation (every privacy loss rounded DOWN to the
         grid; truncated tails dropped), so delta(eps) is underestimated;
  upper: pessimistic discretisation (every loss rounded UP; the upper tail
         put at +infinity; the lower tail rounded up to the grid's start),
         plus Chernoff bounds on the composed mass outside the FFT window.
Both use a grid interval h with T*h at most 1% of epsilon, so the bracket
is at most about 1% wide, and compose by the T-th power of the FFT on a
circular window. It shares no code with the Go accountant (numpy/scipy
only). Output: JSON on stdout. Needs python3-numpy and python3-scipy; used
only to regenerate accountant/testdata/pld_bracket.json, never by CI.
"""
import json, math, sys, time
import numpy as np
from scipy.stats import norm
from scipy.special import logsumexp

SETTINGS = [  # q, sigma, T, delta
    (1e-3, 0.8, 10000, 1e-8),
    (0.01, 1.1, 1000, 1e-5),
    (0.9, 0.5, 1, 1e-6),
    (0.1, 20.0, 10000, 1e-5),
    (0.05, 2.0, 1000, 1e-7),
    (0.5, 1.0, 10, 1e-5),
    (0.2, 5.0, 100, 1e-8),
    (0.02, 0.5, 100, 1e-6),
    (1.0, 2.0, 50, 1e-5),
]


def thresholds(l, q, s, remove):
    """x(l) with L(x) <= l iff x <= x(l) (remove) or x >= x(l) (add); -inf if none."""
    l = np.asarray(l, dtype=float)
    v = np.expm1(l if remove else -l) / q + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        x = s * s * np.log(v) + 0.5
    return np.where(v > 0, x, -np.inf)


def cdf_loss(l, q, s, remove):
    """(P(L <= l), P(L > l)) under the first measure of the pair."""
    x = thresholds(l, q, s, remove)
    if remove:
        lo = (1 - q) * norm.cdf(x / s) + q * norm.cdf((x - 1) / s)
        hi = (1 - q) * norm.sf(x / s) + q * norm.sf((x - 1) / s)
        return lo, hi
    return norm.sf(x / s), norm.cdf(x / s)


def one_round(q, s, h, tail, remove):
    lo, hi = -1.0, 1.0
    while cdf_loss(lo, q, s, remove)[0] > tail:
        lo *= 2
    while cdf_loss(hi, q, s, remove)[1] > tail:
        hi *= 2
    i0, i1 = math.floor(lo / h), math.ceil(hi / h)
    l = np.arange(i0, i1 + 1) * h
    c, sf = cdf_loss(l, q, s, remove)
    # cell masses (l_{i-1}, l_i], from cdf below the median, sf above
    m = np.where(c[1:] < 0.5, c[1:] - c[:-1], sf[:-1] - sf[1:])
    m = np.maximum(m, 0)
    up = np.zeros(len(l)); up[0] = c[0]; up[1:] += m          # round up
    down = np.zeros(len(l)); down[:-1] += m                    # round down, tails dropped
    return i0, up, down, sf[-1]


def compose(i0, pmf, T, h, logtail):
    """T-fold composition on a circular window; returns (offset, pmf, outside mass bound)."""
    l = (i0 + np.arange(len(pmf))) * h
    nz = pmf > 0
    lp, ll = np.log(pmf[nz]), l[nz]
    lams = np.geomspace(1e-2, 1e4, 36)
    hiL = min((T * logsumexp(lp + lam * ll) - logtail) / lam for lam in lams)
    loL = max(-(T * logsumexp(lp - lam * ll) - logtail) / lam for lam in lams)
    hiL, loL = min(hiL, T * ll[-1]), max(loL, T * ll[0])
    jA, jB = math.floor(loL / h), math.ceil(hiL / h)
    n = 1 << (jB - jA).bit_length()
    a = np.zeros(n)
    np.add.at(a, np.arange(len(pmf)) % n, pmf)
    f = np.fft.rfft(a) ** T
    out = np.maximum(np.fft.irfft(f, n), 0)
    k = np.arange(n)
    j = jA + ((T * i0 + k - jA) % n)
    res = np.zeros(n); res[j - jA] = out
    return jA, res, 2 * math.exp(logtail)


def eps_of(offset, pmf, h, inf, delta):
    l = (offset + np.arange(len(pmf))) * h
    def d(e):
        m = l > e
        return inf + np.sum(pmf[m] * -np.expm1(e - l[m]))
    if inf >= delta:
        return math.inf
    lo, hi = 0.0, l[-1] + h
    if d(lo) <= delta:
        return 0.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if d(mid) <= delta:
            hi = mid
        else:
            lo = mid
    return lo, hi


def bracket(q, s, T, delta, eps_guess):
    h = 0.01 * eps_guess / T
    tail = 1e-4 * delta
    lowers, uppers = [], []
    for remove in (True, False):
        i0, up, down, inf1 = one_round(q, s, h, tail / T, remove)
        inf_up = -math.expm1(T * math.log1p(-inf1))
        if T > 1:
            o, cu, out_u = compose(i0, up, T, h, math.log(tail))
            o2, cd, _ = compose(i0, down, T, h, math.log(tail))
        else:
            o, cu, out_u, o2, cd = i0, up, 0.0, i0, down
        uppers.append(eps_of(o, cu, h, inf_up + out_u, delta)[1])
        lowers.append(eps_of(o2, cd, h, 0.0, delta)[0])
    return max(lowers), max(uppers), h


def main():
    rows = []
    for q, s, T, delta in SETTINGS:
        t0 = time.time()
        guess = 1.0
        lo, up, h = bracket(q, s, T, delta, 20 * guess)  # coarse pass for the scale
        lo, up, h = bracket(q, s, T, delta, max(up, 1e-3))
        rows.append(dict(q=q, sigma=s, rounds=T, delta=delta, lower=lo, upper=up,
                         interval=h, seconds=round(time.time() - t0, 2)))
        print(rows[-1], file=sys.stderr)
    json.dump(dict(
        description="Independent bracket [lower, upper] on the epsilon of the Poisson-subsampled Gaussian "
                    "mechanism under add/remove adjacency, computed by docs/dp/pld_bracket.py "
                    "(numpy/scipy: optimistic and pessimistic discretisation at interval h, T*h <= 1% of epsilon).",
        settings=rows), sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
