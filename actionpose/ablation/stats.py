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


# ------------------------------------------------------------------ the powered design (issue 23)

MDE_METHOD = ("minimum detectable effect of a two-sided paired t test: (t(1−α/2, n−1) + t(power, n−1)) · sd / √n "
              "(the usual central-t approximation of the noncentral-t power equation; sd = the observed "
              "paired sd over seeds)")
HOLM_METHOD = "Holm step-down adjustment of the paired-t p-values over the primary readouts (family-wise α)"
BOOTSTRAP_METHOD = ("take-level bootstrap: test takes resampled with replacement within each action (every action "
                    "keeps its number of takes), the same resample for every seed and both cells; percentile "
                    "interval of the mean paired difference over seeds")


def t_p_value(t: float, df: float) -> float:
    """Two-sided p-value of a Student-t statistic: P(|T| >= |t|)."""
    return 2.0 * (1.0 - t_cdf(abs(t), df)) if math.isfinite(t) else 0.0


def minimum_detectable_effect(sd: float | None, n: int, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """The smallest true mean paired difference a two-sided paired t test over `n` seeds detects with
    probability `power` at level `alpha`, given the paired sd (`MDE_METHOD`); None when n < 2 or no sd.
    E.g. sd 14 mm, n 3: (4.303 + 1.061) · 14 / √3 = 43.4 mm."""
    if sd is None or n < 2 or not math.isfinite(sd):
        return None
    if not (0.0 < alpha < 1.0 and 0.0 < power < 1.0):
        raise ValueError(f"minimum_detectable_effect: alpha = {alpha}, power = {power}; expected both in (0, 1)")
    df = n - 1
    return (t_quantile(1.0 - alpha / 2.0, df) + t_quantile(power, df)) * sd / math.sqrt(n)


def paired_test(values: Mapping[int, float], reference: Mapping[int, float], alpha: float = 0.05,
                power: float = 0.8) -> dict:
    """`paired_difference` at level 1 − alpha plus the t statistic's p-value and the minimum detectable
    effect: {n, seeds, mean, sd, t, low, high, t_stat, p, mde}."""
    d = paired_difference(values, reference, level=1.0 - alpha)
    t_stat = p = None
    if d["n"] >= 2:
        se = d["sd"] / math.sqrt(d["n"])
        t_stat = d["mean"] / se if se > 0 else (0.0 if d["mean"] == 0 else math.copysign(math.inf, d["mean"]))
        p = t_p_value(t_stat, d["n"] - 1)
    return {**d, "t_stat": t_stat, "p": p, "mde": minimum_detectable_effect(d["sd"], d["n"], alpha, power)}


def holm(p_values: Mapping[str, float | None]) -> dict[str, float | None]:
    """Holm-adjusted p-values (`HOLM_METHOD`): sorted ascending, p_(i) · (m − i + 1), made monotone,
    capped at 1. None (no test) stays None and does not count in m."""
    items = sorted(((k, p) for k, p in p_values.items() if p is not None), key=lambda kv: kv[1])
    m = len(items)
    out: dict[str, float | None] = {k: None for k in p_values}
    running = 0.0
    for i, (k, p) in enumerate(items):
        running = max(running, min(1.0, (m - i) * p))
        out[k] = running
    return out


def bootstrap_paired(cell: Mapping[int, Mapping[str, tuple[float, float]]],
                     reference: Mapping[int, Mapping[str, tuple[float, float]]], actions: Mapping[str, str],
                     n_boot: int = 2000, seed: int = 0, level: float = 0.95, per_action: bool = True) -> dict:
    """Take-level bootstrap interval of the mean paired difference (`BOOTSTRAP_METHOD`).

    cell / reference: {seed: {take: (sum, count)}}, a readout's per-take sum (e.g. of joint errors in
    mm, or of correct signs) and count (joints, frames); the readout of a seed is then
    mean over actions of (Σ sum / Σ count within the action) when `per_action`, else Σ sum / Σ count.
    actions: {take: action}. Only seeds and takes both cells hold are used. Returns
    {n_seeds, takes, estimate, low, high, n_boot}."""
    import numpy as np
    seeds = sorted(s for s in cell if s in reference)
    takes = sorted(set.intersection(*[set(cell[s]) & set(reference[s]) for s in seeds])) if seeds else []
    if not seeds or not takes:
        return {"n_seeds": len(seeds), "takes": len(takes), "estimate": None, "low": None, "high": None, "n_boot": 0}
    acts = sorted({actions[t] for t in takes})
    groups = [np.array([i for i, t in enumerate(takes) if actions[t] == a]) for a in acts]

    def arrays(src):
        s = np.array([[src[sd][t][0] for t in takes] for sd in seeds], dtype=np.float64)  # [S, K]
        c = np.array([[src[sd][t][1] for t in takes] for sd in seeds], dtype=np.float64)
        return s, c

    (s1, c1), (s0, c0) = arrays(cell), arrays(reference)

    def readout(w: np.ndarray, s: np.ndarray, c: np.ndarray) -> np.ndarray:
        """w [B, K] take multiplicities -> [B, S] readout per replicate and seed."""
        if not per_action:
            return (w @ s.T) / np.maximum(w @ c.T, 1e-12)
        per = [(w[:, g] @ s[:, g].T) / np.maximum(w[:, g] @ c[:, g].T, 1e-12) for g in groups]
        return np.mean(per, axis=0)

    one = np.ones((1, len(takes)))
    estimate = float((readout(one, s1, c1) - readout(one, s0, c0)).mean())
    rng = np.random.default_rng(seed)
    w = np.zeros((n_boot, len(takes)))
    for g in groups:  # resample within each action: every action keeps its number of takes
        pick = rng.integers(0, len(g), size=(n_boot, len(g)))
        np.add.at(w, (np.arange(n_boot)[:, None], g[pick]), 1.0)
    diffs = (readout(w, s1, c1) - readout(w, s0, c0)).mean(axis=1)
    lo, hi = np.quantile(diffs, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"n_seeds": len(seeds), "takes": len(takes), "estimate": estimate, "low": float(lo), "high": float(hi),
            "n_boot": int(n_boot)}
