"""Reliability of saliency metrics, as psychometric tests (Tomsett et al. 2020).

Scores are tables (N images, M methods) of one metric. Images are the raters, saliency methods the units:
inter-rater reliability is Krippendorff's alpha of each image's ranking of the methods (the `krippendorff`
package, ordinal level), with bootstrap intervals over images; inter-method reliability is the mean pairwise
Spearman rho between methods' scores over images; internal consistency is Spearman rho between two metrics'
scores over images, per method.
"""
from __future__ import annotations

import itertools

import krippendorff
import numpy as np
from scipy import stats


def _table(scores, name="scores") -> np.ndarray:
    a = np.asarray(scores.detach().cpu() if hasattr(scores, "detach") else scores, dtype=float)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"{name} must be a table (N images >= 2, M methods >= 2); got shape {a.shape}")
    return a


def rank_methods(scores, higher_is_better: bool = True) -> np.ndarray:
    """Each image's ranking of the methods (N, M): 1 = best; ties get their mean rank; a row with any NaN
    score becomes all NaN (that image rates nothing)."""
    a = _table(scores)
    a = -a if higher_is_better else a
    ranks = stats.rankdata(a, axis=1, method="average")
    ranks[np.isnan(a).any(1)] = np.nan
    return ranks


def alpha(ranks, level: str = "ordinal") -> float:
    """Krippendorff's alpha of a rankings table (N raters = images, M units = methods); NaN = missing."""
    r = _table(ranks, "ranks")
    r = r[~np.isnan(r).all(1)]
    if len(r) < 2 or len(np.unique(r[~np.isnan(r)])) < 2:
        raise ValueError("alpha needs at least two images with rankings and more than one rank value")
    return float(krippendorff.alpha(reliability_data=r, level_of_measurement=level))


def bootstrap_alpha(ranks, n_resamples: int = 10_000, interval: float = 0.999, seed: int = 0,
                    level: str = "ordinal") -> dict:
    """alpha with a percentile bootstrap interval, resampling images (raters) with replacement.

    Each resample goes to `krippendorff.alpha` as value counts per method (alpha depends on nothing else),
    which is exact and much faster than passing the resampled table. `samples` holds every resample's alpha.
    """
    r = _table(ranks, "ranks")
    r = r[~np.isnan(r).all(1)]
    value = alpha(r, level)
    domain = np.unique(r[~np.isnan(r)])
    onehot = (r[:, :, None] == domain[None, None, :]).astype(float)  # (N, M, V)
    rng = np.random.default_rng(seed)
    boots = np.empty(n_resamples)
    for b in range(n_resamples):
        w = np.bincount(rng.integers(0, len(r), len(r)), minlength=len(r)).astype(float)
        counts = np.einsum("n,nmv->mv", w, onehot)
        try:
            boots[b] = krippendorff.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)
        except ValueError:  # a resample with a single rank value in it: alpha undefined
            boots[b] = np.nan
    lo, hi = np.nanquantile(boots, [(1 - interval) / 2, (1 + interval) / 2])
    return dict(alpha=value, lo=float(lo), hi=float(hi), n_resamples=n_resamples, interval=interval,
                undefined=int(np.isnan(boots).sum()), samples=boots)


def spearman(a, b) -> float:
    """Spearman rho of two score vectors over images, ignoring images where either is NaN."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"score vectors differ in length: {a.shape} vs {b.shape}")
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 3:
        return float("nan")
    return float(stats.spearmanr(a[ok], b[ok]).statistic)


def inter_method(scores) -> dict:
    """Mean pairwise Spearman rho between methods (columns) over images, and each pair's rho."""
    a = _table(scores)
    pairs = {(i, j): spearman(a[:, i], a[:, j]) for i, j in itertools.combinations(range(a.shape[1]), 2)}
    return dict(mean=float(np.nanmean(list(pairs.values()))), pairs=pairs)


def internal_consistency(scores_a, scores_b) -> np.ndarray:
    """Spearman rho between two metrics' scores over images, one value per method (column): (M,)."""
    a, b = _table(scores_a, "scores_a"), _table(scores_b, "scores_b")
    if a.shape != b.shape:
        raise ValueError(f"the two metrics' tables differ in shape: {a.shape} vs {b.shape}")
    return np.array([spearman(a[:, m], b[:, m]) for m in range(a.shape[1])])
