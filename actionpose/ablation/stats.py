"""Statistics over seeds for the ablation: mean ± sd and paired differences with Student-t intervals.

numpy/math only (scipy is not a dependency): the t quantile is found by bisection on the t CDF,
which is computed from the regularised incomplete beta function, itself evaluated by its continued
fraction (modified Lentz method). Accurate to ~1e-10, far below what three seeds can resolve.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

INTERVAL_METHOD = ("95 % Student-t interval of the mean paired difference over seeds: "
                   "mean ± t(0.975, n−1) · sd / √n, sd with n−1 degrees of freedom; "
                   "n = seeds finished by both cells; no interval with n < 2")


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (converges for x < (a+1)/(a+b+2))."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        # even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m))
        num = m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m))
        d = 1.0 + num * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + num / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        # odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1))
        num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0))
        d = 1.0 + num * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + num / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if not (a > 0 and b > 0):
        raise ValueError(f"betainc: a = {a}, b = {b}; expected both > 0")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"betainc: x = {x}; expected 0 <= x <= 1")
    if x in (0.0, 1.0):
        return x
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"t_cdf: df = {df}; expected > 0")
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))  # P(T > |t|)
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p (e.g. p = 0.975, df = 2 -> 4.3027)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"t_quantile: p = {p}; expected 0 < p < 1")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def describe(values: list[float]) -> dict:
    """{n, mean, sd} of finite values; sd uses n−1 (None when n < 2), mean None when n = 0."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(vals)
    mean = sum(vals) / n if n else None
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n >= 2 else None
    return {"n": n, "mean": mean, "sd": sd}


def paired_difference(values: Mapping[int, float], reference: Mapping[int, float], level: float = 0.95) -> dict:
    """Mean of `values[s] - reference[s]` over the seeds both hold, with a Student-t interval.

    Returns {n, seeds, mean, sd, t, low, high}; sd/t/low/high are None when n < 2 (no interval).
    """
    seeds = sorted(s for s in values if s in reference and values[s] is not None and reference[s] is not None
                   and math.isfinite(float(values[s])) and math.isfinite(float(reference[s])))
    diffs = [float(values[s]) - float(reference[s]) for s in seeds]
    d = describe(diffs)
    out = {"n": d["n"], "seeds": seeds, "mean": d["mean"], "sd": d["sd"], "t": None, "low": None, "high": None}
    if d["n"] >= 2:
        t = t_quantile(0.5 + level / 2.0, d["n"] - 1)
        half = t * d["sd"] / math.sqrt(d["n"])
        out.update(t=t, low=d["mean"] - half, high=d["mean"] + half)
    return out


def mean_interval(values: list[float], level: float = 0.95) -> tuple[float | None, float | None]:
    """Student-t interval of the mean of `values` (None, None when fewer than 2 values)."""
    d = describe(values)
    if d["n"] < 2:
        return None, None
    half = t_quantile(0.5 + level / 2.0, d["n"] - 1) * d["sd"] / math.sqrt(d["n"])
    return d["mean"] - half, d["mean"] + half
