"""Intervals and the kit's one verdict rule.

Every comparison with a paper goes through here: a bootstrap interval over the units that were sampled
(images, augmentation pairs nested in images, training seeds), then `verdict`, which turns the interval and
the paper's claim into "held", "not held", "inconclusive" or "not comparable" with a one-line reason.

- `bootstrap`: percentile or BCa interval of a statistic; `clusters=` resamples whole clusters (pairs within
  images) instead of units.
- `paired_difference`: interval of mean(a - b) over shared units.
- `t_interval`: Student-t interval for a handful of units (training seeds), where a bootstrap under-covers.
- `rank_test`: Spearman or Kendall with an exact permutation p-value at small n (Monte Carlo beyond).
- `rank_agreement`: rank correlation of per-method means with the paper's values, interval over images.
- `order_test`, `order_verdict`: an order among k methods decided by its exact permutation test, both sides.
- `binomial_interval`: exact (Clopper-Pearson) interval of a proportion.
- `censored_summary`: median and censor count for searches that can hit a cap (never a mean the cap drives).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as _st

LEVEL = 0.95
N_RESAMPLES = 10_000
VERDICTS = ("held", "not held", "inconclusive", "not comparable")
# Below this many resampled units (images, or clusters) a bootstrap interval is not a 95% interval: with 3 wins
# out of 3 every resample is a win and the interval collapses to a point. Such claims stay inconclusive.
MIN_UNITS = 10
KINDS = ("equal", "greater", "less", "equivalent")
_CHUNK = 4_000_000  # resampled values held at once


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval over `n` units."""
    estimate: float
    low: float
    high: float
    n: int
    level: float = LEVEL
    method: str = "bca"
    n_resamples: int = N_RESAMPLES
    unit: str = "image"
    n_clusters: int | None = None
    p_value: float | None = None   # exact permutation p of an order's agreement (rank_agreement), if any
    p_reverse: float | None = None  # the same test's p for the reversed order (the other side)

    @property
    def width(self) -> float:
        return self.high - self.low

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def __str__(self) -> str:
        return f"{self.estimate:.3g} [{self.low:.3g}, {self.high:.3g}]"


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str
    decide_width: float | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


# ---------------------------------------------------------------------------------------------- bootstrap

def _as_units(values, name="values") -> np.ndarray:
    a = np.asarray(values, dtype=float)
    if a.ndim == 0 or a.shape[0] == 0:
        raise ValueError(f"{name}: need at least one unit, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or inf; drop or censor those units explicitly")
    return a


def _cluster_index(clusters, n: int) -> tuple[list[np.ndarray], np.ndarray]:
    if clusters is None:
        return [np.array([i]) for i in range(n)], np.arange(n)
    c = np.asarray(clusters)
    if c.shape != (n,):
        raise ValueError(f"clusters must have one label per unit ({n}), got shape {c.shape}")
    labels, inverse = np.unique(c, return_inverse=True)
    return [np.flatnonzero(inverse == k) for k in range(len(labels))], inverse


def _stat_fn(stat):
    if callable(stat):
        return stat
    if stat == "mean":
        return lambda a: float(np.mean(a, axis=0)) if np.ndim(a) == 1 else np.mean(a, axis=0)
    if stat == "median":
        return lambda a: float(np.median(a, axis=0))
    raise ValueError(f"stat must be 'mean', 'median' or a callable, got {stat!r}")


def _resampled_stats(a: np.ndarray, groups: list[np.ndarray], stat, n_resamples: int,
                     rng: np.random.Generator, batched_ok: bool = False) -> np.ndarray:
    """The statistic on `n_resamples` resamples of the clusters (units when each cluster is one unit)."""
    m = len(groups)
    singles = all(len(g) == 1 for g in groups)
    if stat == "mean" and a.ndim == 1:
        # Pooled mean of the drawn clusters = sum of their sums / sum of their sizes; no index matrix needed.
        sums = np.array([a[g].sum() for g in groups])
        sizes = np.array([len(g) for g in groups], dtype=float)
        out = np.empty(n_resamples)
        step = max(1, _CHUNK // m)
        for s in range(0, n_resamples, step):
            idx = rng.integers(0, m, size=(min(step, n_resamples - s), m))
            out[s:s + len(idx)] = sums[idx].sum(1) / sizes[idx].sum(1)
        return out
    fn = _stat_fn(stat)
    out = np.empty(n_resamples)
    batched = getattr(fn, "batched", None) if batched_ok else None
    if batched is not None and singles:
        # The same draws, one per resample as below (so the same replicates up to float rounding), then the
        # statistic on a chunk of resamples at once: `fn.batched` maps (B, n, ...) rows to (B,) values. Only for
        # percentile intervals: BCa counts replicates equal to the estimate, and another code path's rounding
        # would move a discrete statistic's ties (a rank correlation on few images) across that equality.
        step = max(1, _CHUNK // max(1, a[:1].size * m))
        for s in range(0, n_resamples, step):
            idx = np.stack([rng.integers(0, m, size=m) for _ in range(min(step, n_resamples - s))])
            out[s:s + len(idx)] = batched(a[idx])
        return out
    for b in range(n_resamples):
        idx = rng.integers(0, m, size=m)
        rows = idx if singles else np.concatenate([groups[i] for i in idx])
        out[b] = fn(a[rows])
    return out


def percentile_interval(estimate: float, boot, n: int, *, level: float = LEVEL, method: str = "percentile",
                        unit: str = "image", n_clusters: int | None = None,
                        p_value: float | None = None, p_reverse: float | None = None) -> Interval:
    """The percentile interval of bootstrap replicates `boot` (NaN replicates ignored) around `estimate`."""
    alpha = (1 - level) / 2
    lo, hi = np.nanquantile(np.asarray(boot, dtype=float), [alpha, 1 - alpha])
    return Interval(float(estimate), float(lo), float(hi), n, level, method, len(boot), unit, n_clusters, p_value,
                    p_reverse)


def binomial_interval(successes: int, n: int, *, level: float = LEVEL, unit: str = "image") -> Interval:
    """Exact (Clopper-Pearson) interval of a proportion: never collapses to a point, unlike a bootstrap of 0/1
    values that are all equal."""
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")
    ci = _st.binomtest(int(successes), int(n)).proportion_ci(level, method="exact")
    return Interval(successes / n, float(ci.low), float(ci.high), int(n), level, "clopper-pearson", 0, unit)


def _jackknife(a: np.ndarray, groups: list[np.ndarray], stat) -> np.ndarray:
    fn = _stat_fn(stat)
    keep = np.ones(len(a), dtype=bool)
    out = np.empty(len(groups))
    for k, g in enumerate(groups):
        keep[g] = False
        out[k] = fn(a[keep])
        keep[g] = True
    return out


def bootstrap(values, stat="mean", *, clusters=None, n_resamples: int = N_RESAMPLES, level: float = LEVEL,
              method: str = "bca", seed: int = 0, unit: str = "image") -> Interval:
    """Bootstrap confidence interval of `stat` over units (rows of `values`).

    `stat`: "mean", "median" or a callable on an array of rows. `clusters`: one label per unit; whole
    clusters are resampled (e.g. augmentation pairs within images), and the estimate pools their units.
    `method`: "bca" (bias-corrected and accelerated, the default) or "percentile". With one cluster, or
    when every resample gives the same value, the interval is the point itself.
    """
    if method not in ("bca", "percentile"):
        raise ValueError(f"method must be 'bca' or 'percentile', got {method!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_resamples < 1000:
        raise ValueError(f"n_resamples={n_resamples}: too few for a {level:.0%} interval's tails")
    a = _as_units(values)
    groups, _ = _cluster_index(clusters, len(a))
    theta = float(_stat_fn(stat)(a))
    n_cl = len(groups) if clusters is not None else None
    make = lambda lo, hi, how: Interval(theta, float(lo), float(hi), len(a), level, how, n_resamples, unit, n_cl)
    if len(groups) < 2:
        return make(theta, theta, method)
    rng = np.random.default_rng(seed)
    boot = _resampled_stats(a, groups, stat, n_resamples, rng, batched_ok=method == "percentile")
    if np.ptp(boot) == 0:
        return make(theta, theta, method)
    alpha = (1 - level) / 2
    if method == "percentile":
        lo, hi = np.quantile(boot, [alpha, 1 - alpha])
        return make(lo, hi, "percentile")
    # BCa (Efron 1987): bias from the share of resamples below the estimate (ties count half), acceleration
    # from the jackknife over clusters.
    share = (np.sum(boot < theta) + 0.5 * np.sum(boot == theta)) / len(boot)
    if not 0 < share < 1:
        lo, hi = np.quantile(boot, [alpha, 1 - alpha])
        return make(lo, hi, "percentile")
    z0 = _st.norm.ppf(share)
    jack = _jackknife(a, groups, stat)
    d = jack.mean() - jack
    denom = 6 * (np.sum(d ** 2) ** 1.5)
    acc = np.sum(d ** 3) / denom if denom > 0 else 0.0
    z = _st.norm.ppf([alpha, 1 - alpha])
    q = _st.norm.cdf(z0 + (z0 + z) / (1 - acc * (z0 + z)))
    lo, hi = np.quantile(boot, q)
    return make(lo, hi, "bca")


def t_interval(values, *, level: float = LEVEL, unit: str = "seed") -> Interval:
    """Student-t interval of a mean, for few, roughly normal units (training seeds), where a bootstrap over
    3 to 5 values under-covers badly."""
    a = _as_units(values)
    if a.ndim != 1 or len(a) < 2:
        raise ValueError(f"a t interval needs at least 2 values in 1-D, got shape {a.shape}")
    m, se = float(a.mean()), float(a.std(ddof=1) / np.sqrt(len(a)))
    h = float(_st.t.ppf(0.5 + level / 2, len(a) - 1)) * se
    return Interval(m, m - h, m + h, len(a), level, "t", 0, unit)


def paired_difference(a, b, *, clusters=None, stat="mean", **kw) -> Interval:
    """Interval of stat(a - b) over the units both were measured on (same order)."""
    a, b = _as_units(a, "a"), _as_units(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same shape, got {a.shape} and {b.shape}")
    return bootstrap(a - b, stat, clusters=clusters, **kw)


def two_group_bootstrap(a, b, stat, *, batched=None, n_resamples: int = N_RESAMPLES, level: float = LEVEL,
                        seed: int = 0, unit: str = "image") -> Interval:
    """Percentile interval of stat(a) - stat(b) for two independent groups of units (rows), each resampled on
    its own (e.g. a correlation on correctly vs wrongly classified images). `batched`: the same statistic on
    (B, n, ...) stacks of resamples, for speed; the draws are the same either way."""
    a, b = _as_units(a, "a"), _as_units(b, "b")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"each group needs at least 2 units, got {len(a)} and {len(b)}")
    if n_resamples < 1000:
        raise ValueError(f"n_resamples={n_resamples}: too few for a {level:.0%} interval's tails")
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, len(a), size=(n_resamples, len(a)))
    ib = rng.integers(0, len(b), size=(n_resamples, len(b)))
    if batched is not None:
        step = max(1, _CHUNK // max(1, a[:1].size * max(len(a), len(b))))
        boot = np.concatenate([batched(a[ia[s:s + step]]) - batched(b[ib[s:s + step]])
                               for s in range(0, n_resamples, step)])
    else:
        boot = np.array([stat(a[i]) - stat(b[j]) for i, j in zip(ia, ib)])
    est = float(stat(a) - stat(b))
    return percentile_interval(est, boot, len(a) + len(b), level=level, method="percentile, two groups", unit=unit)


# ---------------------------------------------------------------------------------------- rank correlation

@dataclass(frozen=True)
class RankTest:
    statistic: float
    p_value: float
    n: int
    method: str
    exact: bool
    alternative: str

    def as_dict(self) -> dict:
        return asdict(self)


def _rank_stat(method):
    if method == "spearman":
        return lambda x, y, axis=-1: spearman(x, y, axis)
    if method == "kendall":
        return lambda x, y, axis=-1: _kendall(x, y, axis)
    raise ValueError(f"method must be 'spearman' or 'kendall', got {method!r}")


def spearman(x, y, axis=-1):
    """Spearman's rho along `axis`, vectorised and broadcast (e.g. every row of a matrix against one reference
    vector); ties take average ranks; 0 where either side is constant."""
    rx, ry = _st.rankdata(x, axis=axis), _st.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    den = np.sqrt((rx ** 2).sum(axis) * (ry ** 2).sum(axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis) / np.where(den > 0, den, 1), 0.0)


def _kendall(x, y, axis=-1):
    x, y = np.moveaxis(np.asarray(x, float), axis, -1), np.moveaxis(np.asarray(y, float), axis, -1)
    dx = np.sign(x[..., :, None] - x[..., None, :])
    dy = np.sign(y[..., :, None] - y[..., None, :])
    num = (dx * dy).sum((-1, -2))
    den = np.sqrt((dx ** 2).sum((-1, -2)) * (dy ** 2).sum((-1, -2)))
    return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)   # tau-b


def rank_test(x, y, method: str = "spearman", alternative: str = "greater", n_resamples: int = 100_000,
              seed: int = 0) -> RankTest:
    """Rank correlation with a permutation p-value: exact (all n! pairings) when n! <= n_resamples.

    At n = 5 the smallest one-sided p is 1/120; the asymptotic p-values of scipy.stats.spearmanr are
    meaningless there.
    """
    x, y = _as_units(x, "x"), _as_units(y, "y")
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of equal length, got {x.shape} and {y.shape}")
    if len(x) < 3:
        raise ValueError(f"a rank correlation needs at least 3 items, got {len(x)}")
    fn = _rank_stat(method)
    # Permute x alone against fixed y: n! distinct pairings (permuting both would count (n!)^2 and fall back to
    # Monte Carlo from n = 6 on).
    res = _st.permutation_test((x,), lambda a, axis=-1: fn(a, np.broadcast_to(y, a.shape), axis),
                               permutation_type="pairings", vectorized=True, n_resamples=n_resamples,
                               alternative=alternative, rng=seed)
    exact = math.factorial(len(x)) <= n_resamples
    return RankTest(float(res.statistic), float(res.pvalue), len(x), method, exact, alternative)


def rank_agreement(per_unit, reference, method: str = "spearman", *, clusters=None,
                   n_resamples: int = N_RESAMPLES, level: float = LEVEL, seed: int = 0,
                   unit: str = "image", n_permutations: int = 100_000) -> tuple[Interval, RankTest]:
    """How well the order of per-method means agrees with the paper's values.

    `per_unit`: (units, methods) values; `reference`: the paper's value per method. Returns the rank
    correlation of the column means with `reference`, with a percentile interval over resampled units
    (images), and the permutation test of the point estimate over the methods: exact when
    k! <= n_permutations (k = 9 methods needs 362,880).
    """
    a = _as_units(per_unit, "per_unit")
    ref = _as_units(reference, "reference")
    if a.ndim != 2 or a.shape[1] != len(ref):
        raise ValueError(f"per_unit must be (units, {len(ref)}), got {a.shape}")
    fn = _rank_stat(method)
    test = rank_test(a.mean(0), ref, method, n_resamples=n_permutations, seed=seed)
    reverse = rank_test(a.mean(0), ref, method, alternative="less", n_resamples=n_permutations, seed=seed)
    groups, _ = _cluster_index(clusters, len(a))
    rng = np.random.default_rng(seed)
    m = len(groups)
    boot = np.empty(n_resamples)
    step = max(1, _CHUNK // (m * a.shape[1]))
    singles = clusters is None
    for s in range(0, n_resamples, step):
        k = min(step, n_resamples - s)
        idx = rng.integers(0, m, size=(k, m))
        if singles:
            means = a[idx].mean(1)
        else:
            means = np.stack([a[np.concatenate([groups[i] for i in row])].mean(0) for row in idx])
        boot[s:s + k] = fn(means, np.broadcast_to(ref, means.shape), axis=-1)
    ci = percentile_interval(test.statistic, boot, len(a), level=level, unit=unit,
                             n_clusters=len(groups) if clusters is not None else None, p_value=test.p_value,
                             p_reverse=reverse.p_value)
    return ci, test


def _spearman_null(k: int, n_resamples: int = 100_000, seed: int = 0) -> np.ndarray:
    """Spearman's rho of every ordering of k untied items against 1..k (all k! where k! <= n_resamples, else a
    seeded Monte Carlo sample of orderings)."""
    ranks = np.arange(k, dtype=float)
    if math.factorial(k) <= n_resamples:
        from itertools import permutations
        perms = np.array(list(permutations(range(k))), dtype=float)
    else:
        rng = np.random.default_rng(seed)
        perms = np.argsort(rng.random((n_resamples, k)), axis=1).astype(float)
    return spearman(perms, np.broadcast_to(ranks, perms.shape), axis=-1)


def order_test(statistic: float, k: int, *, n_resamples: int = 100_000, seed: int = 0) -> tuple[float, float, bool]:
    """Permutation p-values of an observed Spearman rho between two orders of k untied items: (p of an agreement
    at least this strong, p of a reversal at least this strong, exact). Exact when k! <= n_resamples."""
    if k < 3:
        raise ValueError(f"an order needs at least 3 items, got {k}")
    null = _spearman_null(k, n_resamples, seed)
    # Spearman's rho of k items lies on a lattice of step 12 / (k^3 - k) (1e-4 at k = 50): a tolerance of 1e-5
    # counts a statistic read back from a file (6 significant digits) as the lattice point it was
    eps = 1e-5
    return (float(np.mean(null >= statistic - eps)), float(np.mean(null <= statistic + eps)),
            math.factorial(k) <= n_resamples)


def order_verdict(statistic: float, k: int, *, level: float = LEVEL, p_value: float | None = None,
                  p_reverse: float | None = None) -> Verdict:
    """An order among k items (methods) decided by the permutation test of its rank correlation, on both
    sides: held when an agreement this strong is rare by chance (p < 1 - level), not held when a reversal
    this strong is, else inconclusive. No bootstrap interval: over so few items it collapses or under-covers."""
    if p_value is None or p_reverse is None:
        p_value, p_reverse, _ = order_test(statistic, k)
    a = 1 - level
    floor = 1 / math.factorial(k) if k <= 12 else 0.0
    span = f"rho = {statistic:.3g} over k={k} items"
    if p_value < a:
        return Verdict("held", f"{span}: agreement this strong has permutation p = {p_value:.3g} < {a:.2g}")
    if p_reverse < a:
        return Verdict("not held", f"{span}: the order is reversed, permutation p = {p_reverse:.3g} < {a:.2g}")
    why = (f"{span}: permutation p = {p_value:.3g} (agreement), {p_reverse:.3g} (reversal), neither < {a:.2g}")
    if floor >= a:
        why += f"; with {k} items no order can reach p < {a:.2g} (the smallest p is 1/{k}! = {floor:.3g})"
    return Verdict("inconclusive", why)


# ------------------------------------------------------------------------------------------------ censoring

def censored_summary(values, cap: float | None = None, censored=None, *, n_resamples: int = N_RESAMPLES,
                     level: float = LEVEL, seed: int = 0, unit: str = "image") -> dict:
    """Median and censor count of right-censored values (a search that stopped at `cap` found no answer).

    Censored values count as larger than every observed one; the median and its percentile interval are
    reported only where they do not depend on the cap, otherwise the bound is given as None ("above the
    cap"). No mean is returned: a mean would be driven by the cap.
    """
    a = _as_units(values)
    if a.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {a.shape}")
    if censored is None:
        if cap is None:
            raise ValueError("give the search cap or a censored mask")
        censored = a >= cap
    censored = np.asarray(censored, dtype=bool)
    if censored.shape != a.shape:
        raise ValueError("censored mask must match values")
    x = np.where(censored, np.inf, a)
    n, k = len(x), int(censored.sum())
    rng = np.random.default_rng(seed)
    boot = np.empty(n_resamples)
    step = max(1, _CHUNK // n)
    for s in range(0, n_resamples, step):
        idx = rng.integers(0, n, size=(min(step, n_resamples - s), n))
        boot[s:s + len(idx)] = np.quantile(x[idx], 0.5, axis=1, method="inverted_cdf")
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha], method="inverted_cdf")
    med = float(np.quantile(x, 0.5, method="inverted_cdf"))
    fin = lambda v: float(v) if np.isfinite(v) else None
    return {"n": n, "n_censored": k, "censored_fraction": k / n, "median": fin(med), "low": fin(lo),
            "high": fin(hi), "level": level, "unit": unit, "cap": cap,
            "median_identified": bool(np.isfinite(med))}


# ------------------------------------------------------------------------------------------ the verdict rule

def verdict(ci: Interval, kind: str, reference=0.0, tol: float | None = None,
            comparable: bool = True, why: str | None = None) -> Verdict:
    """The kit's one verdict rule, from a 95% interval and what the paper claims.

    kind "equal" (a value within a tolerance; `reference` a number or a (low, high) range) and "equivalent"
      (two quantities that "follow closely": their difference against `reference`, 0 by default), `tol`
      required: held when the whole interval lies within the band reference +- tol; not held when it lies
      wholly outside the band (surely farther than tol); otherwise inconclusive, and an interval inside the
      band (width <= its width) would decide.
    kind "greater" / "less": the claimed direction against `reference` (0 for a difference). Held when the
      whole interval is on the claimed side; not held when the whole interval is on the other side, or (with
      `tol`) lies within reference +- tol, i.e. no effect of a size that matters; otherwise inconclusive, and
      an interval narrower than 2 * |estimate - reference| would decide.
    comparable=False: an absolute value on another model or data set; "not comparable", whatever it is
      (`why` says why, if not for that).
    Few units: a bootstrap interval over fewer than MIN_UNITS units (or clusters) decides nothing (t intervals
      over seeds are exempt: they are exact under normality).
    Degenerate: a bootstrap interval with low == high over several units means the interval method does not
      fit the statistic (use `binomial_interval` for a proportion, `order_verdict` for an order); it decides
      nothing.
    Orders: an interval that carries permutation p-values (rank agreement over k methods) decides only where
      the permutation test does, on both sides: held needs p < 1 - level, not held needs p_reverse < 1 - level
      (with 5 methods even perfect agreement cannot beat 1/120).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if tol is not None and tol < 0:
        raise ValueError("tol must be >= 0")
    lo, hi, est = ci.low, ci.high, ci.estimate
    span = f"{ci.level:.0%} CI [{lo:.3g}, {hi:.3g}], n={ci.n}"
    if not comparable:
        return Verdict("not comparable", f"{why or 'absolute value on another model or data than the papers'}; "
                                         f"ours {est:.3g} ({span})")
    units = ci.n_clusters if ci.n_clusters is not None else ci.n
    boot = ci.method in ("bca", "percentile")
    if boot and units < MIN_UNITS:
        return Verdict("inconclusive", f"only {units} {ci.unit}s: a bootstrap interval over fewer than {MIN_UNITS} "
                                       f"decides nothing ({span})")
    # equal to the 6 significant digits a results file keeps, so that a saved interval grades as the live one;
    # t: seeds that all gave the same value
    if (boot or ci.method == "t") and units > 1 and hi - lo <= 1e-6 * max(abs(lo), abs(hi), 1e-6):
        return Verdict("inconclusive", f"degenerate interval ({span}): every resample gives the same value, so the "
                                       "bootstrap does not fit this statistic (a proportion needs an exact binomial "
                                       "interval, an order the permutation test)")
    if kind in ("equal", "equivalent"):
        if tol is None:
            raise ValueError(f"an '{kind}' claim needs tol: how far from the reference still counts as equal")
        r_lo, r_hi = (float(reference[0]), float(reference[1])) if np.ndim(reference) else (reference, reference)
        b_lo, b_hi = r_lo - tol, r_hi + tol
        ref = f"{r_lo:.3g}" if r_lo == r_hi else f"[{r_lo:.3g}, {r_hi:.3g}]"
        if b_lo <= lo and hi <= b_hi:
            return Verdict("held", f"our {span} lies within {ref} +- {tol:.3g}")
        if hi < b_lo or lo > b_hi:
            return Verdict("not held", f"our {span} lies wholly outside {ref} +- {tol:.3g}")
        return Verdict("inconclusive", f"our {span} overlaps {ref} +- {tol:.3g} but is not inside it; an interval "
                                       f"within the band (width <= {b_hi - b_lo:.3g}) would decide", b_hi - b_lo)
    if np.ndim(reference):
        raise ValueError(f"a '{kind}' claim takes one reference value, got {reference!r}")
    sign = 1 if kind == "greater" else -1
    word = ">" if kind == "greater" else "<"
    alpha = 1 - ci.level
    if sign * (lo - reference) > 0 and sign * (hi - reference) > 0:
        if ci.p_value is not None and ci.p_value >= alpha:
            return Verdict("inconclusive", f"whole interval {word} {reference:.3g} ({span}), but the exact "
                                           f"permutation p = {ci.p_value:.3g} >= {alpha:.2g}: an order "
                                           "this close arises by chance among so few items")
        return Verdict("held", f"whole interval {word} {reference:.3g}: {span}"
                       + (f", exact p = {ci.p_value:.3g}" if ci.p_value is not None else ""))
    if sign * (lo - reference) < 0 and sign * (hi - reference) < 0:
        if ci.p_value is not None and (ci.p_reverse is None or ci.p_reverse >= alpha):
            p = "unknown" if ci.p_reverse is None else f"{ci.p_reverse:.3g}"
            return Verdict("inconclusive", f"whole interval on the other side of {reference:.3g} ({span}), but the "
                                           f"permutation p of the reversed order = {p} is not < {alpha:.2g}: among so "
                                           "few items its sign alone decides nothing")
        return Verdict("not held", f"whole interval on the other side of {reference:.3g}: {span}")
    if tol is not None and reference - tol <= lo and hi <= reference + tol:
        return Verdict("not held", f"interval within {reference:.3g} +- {tol:.3g}, no effect that large: {span}")
    gap = abs(est - reference)
    why = (f"interval contains {reference:.3g}: {span}; one narrower than {2 * gap:.3g} would decide"
           if gap > 0 else f"interval contains {reference:.3g} and the estimate sits on it: {span}")
    return Verdict("inconclusive", why, 2 * gap if gap > 0 else None)
