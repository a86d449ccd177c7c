"""Reliability of saliency metrics, as psychometric tests (Tomsett et al. 2020).

Scores are tables (N images, M methods) of one metric. Images are the raters, saliency methods the units:
inter-rater reliability is Krippendorff's alpha of each image's ranking of the methods (the `krippendorff`
package, ordinal level), with bootstrap intervals over images; inter-method reliability is the mean pairwise
Spearman rho between methods' scores over images; internal consistency is Spearman rho between two metrics'
scores over images, per method.
"""
from __future__ import annotations

import itertools
import warnings

import krippendorff
import numpy as np
from scipy import stats
from scipy.stats import ConstantInputWarning

from . import stats as stats_mod


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


def alpha_from_counts(counts, domain, level: str = "ordinal") -> np.ndarray:
    """Krippendorff's alpha of many value-count tables at once: counts (..., M units, V values) -> (...).

    The same computation as `krippendorff.alpha(value_counts=..., value_domain=domain)` (tested equal),
    vectorised over the leading axes, for bootstrap resamples. NaN where alpha is undefined (no expected
    disagreement, e.g. a resample holding a single rank value).
    """
    c = np.asarray(counts, dtype=float)
    dom = np.asarray(domain, dtype=float)
    if c.ndim < 2 or c.shape[-1] != len(dom):
        raise ValueError(f"counts must be (..., units, {len(dom)} values); got shape {c.shape}")
    v = len(dom)
    eye = np.eye(v)
    pairable = np.maximum(c.sum(-1), 2)[..., None, None]                         # (..., M, 1, 1)
    o = ((c[..., :, None] * c[..., None, :] - c[..., None, :] * eye) / (pairable - 1)).sum(-3)  # (..., V, V)
    n_v = o.sum(-2)                                                                   # (..., V)
    n = n_v.sum(-1)[..., None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        e = (n_v[..., :, None] * n_v[..., None, :] - n_v[..., None, :] * eye) / (n - 1)
    if level == "ordinal":
        cum = np.concatenate([np.zeros(n_v.shape[:-1] + (1,)), np.cumsum(n_v, -1)], -1)  # cum[k] = sum n_v[:k]
        i = np.arange(v)
        lo, hi = np.minimum(i[:, None], i[None, :]), np.maximum(i[:, None], i[None, :])
        between = cum[..., hi + 1] - cum[..., lo]
        d = (between - (n_v[..., :, None] + n_v[..., None, :]) / 2) ** 2
    elif level == "interval":
        d = np.broadcast_to((dom[:, None] - dom[None, :]) ** 2, o.shape)
    elif level == "nominal":
        d = np.broadcast_to(1 - eye, o.shape)
    else:
        raise ValueError(f"level must be 'ordinal', 'interval' or 'nominal', got {level!r}")
    num, den = (o * d).sum((-1, -2)), (e * d).sum((-1, -2))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, 1 - num / np.where(den > 0, den, 1), np.nan)
    return out


def _onehot(r: np.ndarray, domain: np.ndarray) -> np.ndarray:
    return (r[:, :, None] == domain[None, None, :]).astype(float)  # (N, M, V); a NaN rank counts nowhere


def _resample_weights(n: int, n_resamples: int, rng: np.random.Generator, chunk: int = 2000):
    """Images drawn with replacement, as counts per image: (k, n) blocks, the draws of
    rng.integers(0, n, n) made n_resamples times in turn."""
    for s in range(0, n_resamples, chunk):
        k = min(chunk, n_resamples - s)
        idx = rng.integers(0, n, size=(k, n))
        w = np.zeros((k, n))
        np.add.at(w, (np.repeat(np.arange(k), n), idx.ravel()), 1.0)
        yield w


def bootstrap_alpha(ranks, n_resamples: int = stats_mod.N_RESAMPLES, interval: float = stats_mod.LEVEL,
                    seed: int = 0, level: str = "ordinal") -> dict:
    """alpha with a percentile bootstrap interval, resampling images (raters) with replacement.

    Defaults: the kit's `stats.N_RESAMPLES` resamples and `stats.LEVEL` (95%) interval. Each resample is
    a table of value counts per method (alpha depends on nothing else), computed for all resamples at once
    (`alpha_from_counts`, equal to `krippendorff.alpha` on the resampled table). `samples` holds every
    resample's alpha (NaN where undefined, counted in `undefined`), `ci` the `stats.Interval`.
    """
    r = _table(ranks, "ranks")
    r = r[~np.isnan(r).all(1)]
    value = alpha(r, level)
    domain = np.unique(r[~np.isnan(r)])
    onehot = _onehot(r, domain)
    rng = np.random.default_rng(seed)
    boots = np.concatenate([alpha_from_counts(np.einsum("bn,nmv->bmv", w, onehot), domain, level)
                            for w in _resample_weights(len(r), n_resamples, rng)])
    ci = stats_mod.percentile_interval(value, boots, len(r), level=interval)
    return dict(alpha=value, lo=ci.low, hi=ci.high, n_resamples=n_resamples, interval=interval,
                undefined=int(np.isnan(boots).sum()), samples=boots, ci=ci)


def bootstrap_alpha_difference(ranks_a, ranks_b, n_resamples: int = stats_mod.N_RESAMPLES,
                               interval: float = stats_mod.LEVEL, seed: int = 0, level: str = "ordinal") -> dict:
    """alpha(ranks_a) - alpha(ranks_b) for two rankings of the same images (rows), with a percentile interval
    from resampling the images jointly (the same resampled images enter both alphas).

    An image whose ranking is missing (NaN) in one table still counts as drawn; it rates nothing there.
    """
    a, b = _table(ranks_a, "ranks_a"), _table(ranks_b, "ranks_b")
    if len(a) != len(b):
        raise ValueError(f"the two rankings need the same images (rows): {len(a)} vs {len(b)}")
    value = alpha(a, level) - alpha(b, level)
    parts = []
    for r in (a, b):
        domain = np.unique(r[~np.isnan(r)])
        parts.append((domain, _onehot(r, domain)))
    rng = np.random.default_rng(seed)
    boots = []
    for w in _resample_weights(len(a), n_resamples, rng):
        x, y = (alpha_from_counts(np.einsum("bn,nmv->bmv", w, oh), dom, level) for dom, oh in parts)
        boots.append(x - y)
    boots = np.concatenate(boots)
    ci = stats_mod.percentile_interval(value, boots, len(a), level=interval)
    return dict(difference=value, lo=ci.low, hi=ci.high, n_resamples=n_resamples, interval=interval,
                undefined=int(np.isnan(boots).sum()), samples=boots, ci=ci)


def perturbation_effects(scores_a, scores_b, higher_is_better: bool = True, n_resamples: int = stats_mod.N_RESAMPLES,
                         interval: float = stats_mod.LEVEL, seed: int = 0, level: str = "ordinal"):
    """How much a change of the setting (e.g. the perturbation) moves inter-method reliability against inter-rater
    reliability: |rho(a) - rho(b)| - |alpha(a) - alpha(b)| for two (images, methods) score tables of the same
    images, rho the mean pairwise Spearman between methods, alpha Krippendorff's alpha of the images' rankings;
    a percentile interval from resampling the images once for all four. Returns a `stats.Interval`."""
    a, b = _table(scores_a, "scores_a"), _table(scores_b, "scores_b")
    if a.shape != b.shape:
        raise ValueError(f"the two tables need the same images and methods, got {a.shape} and {b.shape}")
    ra, rb = (rank_methods(t, higher_is_better) for t in (a, b))
    parts = [(np.unique(r[~np.isnan(r)]), r) for r in (ra, rb)]
    oh = [(dom, _onehot(r, dom)) for dom, r in parts]
    value = (abs(mean_pairwise_spearman(a) - mean_pairwise_spearman(b)) - abs(alpha(ra, level) - alpha(rb, level)))
    rng = np.random.default_rng(seed)
    n, boots = len(a), []
    for s in range(0, n_resamples, 1000):
        idx = rng.integers(0, n, size=(min(1000, n_resamples - s), n))
        w = np.zeros(idx.shape)
        np.add.at(w, (np.repeat(np.arange(len(idx)), n), idx.ravel()), 1.0)
        al = [alpha_from_counts(np.einsum("bn,nmv->bmv", w, o), dom, level) for dom, o in oh]
        rho = [_mean_pairwise_spearman_batched(t[idx]) for t in (a, b)]
        boots.append(np.abs(rho[0] - rho[1]) - np.abs(al[0] - al[1]))
    return stats_mod.percentile_interval(value, np.concatenate(boots), n, level=interval)


def mean_pairwise_spearman(rows: np.ndarray) -> float:
    """Mean pairwise Spearman rho between the columns of a complete (no NaN) table; for bootstraps."""
    r = stats.rankdata(np.asarray(rows, dtype=float), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.corrcoef(r, rowvar=False)
    iu = np.triu_indices(c.shape[0], 1)
    return float(np.nan_to_num(c[iu], nan=0.0).mean())


def _mean_pairwise_spearman_batched(stack: np.ndarray) -> np.ndarray:
    """mean_pairwise_spearman of each table in a (B, N, k) stack at once (bootstraps call it on chunks)."""
    r = stats.rankdata(np.asarray(stack, dtype=float), axis=1)
    r -= r.mean(1, keepdims=True)
    cov = np.einsum("bnk,bnl->bkl", r, r)
    sd = np.sqrt(np.einsum("bkk->bk", cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        c = cov / (sd[:, :, None] * sd[:, None, :])
    iu = np.triu_indices(stack.shape[2], 1)
    return np.nan_to_num(c[:, iu[0], iu[1]], nan=0.0).mean(1)


mean_pairwise_spearman.batched = _mean_pairwise_spearman_batched


def spearman_rows(rows: np.ndarray) -> float:
    """Spearman rho between the two columns of a complete (N, 2) table (0 where a column is constant)."""
    return mean_pairwise_spearman(rows)


spearman_rows.batched = _mean_pairwise_spearman_batched


def spearman(a, b) -> float:
    """Spearman rho of two score vectors over images, ignoring images where either is NaN."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"score vectors differ in length: {a.shape} vs {b.shape}")
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 3:
        return float("nan")
    return float(stats.spearmanr(a[ok], b[ok]).statistic)


def across_images(maps) -> np.ndarray:
    """Per image, the mean Spearman correlation of its map with the maps of every other image (maps: N images x
    any shape, N >= 2): how far a method's map depends on the image (near 1: one map for every image). A map that
    is constant gives NaN."""
    a = np.asarray(maps.detach().cpu() if hasattr(maps, "detach") else maps, dtype=float).reshape(len(maps), -1)
    if len(a) < 2:
        raise ValueError(f"need maps of at least 2 images, got {len(a)}")
    r = stats.rankdata(a, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.corrcoef(r)          # Pearson of ranks = Spearman
    np.fill_diagonal(c, np.nan)
    return np.nanmean(c, axis=1)


def inter_method(scores) -> dict:
    """Mean pairwise Spearman rho between methods (columns) over images, and each pair's rho."""
    a = _table(scores)
    with warnings.catch_warnings():   # a constant column (one value on every image) has no rho: NaN, left out
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", ConstantInputWarning)
        pairs = {(i, j): spearman(a[:, i], a[:, j]) for i, j in itertools.combinations(range(a.shape[1]), 2)}
        return dict(mean=float(np.nanmean(list(pairs.values()))), pairs=pairs)


def internal_consistency(scores_a, scores_b) -> np.ndarray:
    """Spearman rho between two metrics' scores over images, one value per method (column): (M,)."""
    a, b = _table(scores_a, "scores_a"), _table(scores_b, "scores_b")
    if a.shape != b.shape:
        raise ValueError(f"the two metrics' tables differ in shape: {a.shape} vs {b.shape}")
    return np.array([spearman(a[:, m], b[:, m]) for m in range(a.shape[1])])
