"""xaikit.reliability: Krippendorff's alpha of method rankings, bootstrap intervals, Spearman statistics."""
import krippendorff
import numpy as np
import pytest
from scipy import stats

from xaikit import reliability as R


def _scores(n=60, m=5, signal=0.8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, m)) + signal * np.arange(m)


def test_identical_rankings_give_alpha_one():
    ranks = np.tile([1.0, 2, 3, 4, 5], (20, 1))
    assert R.alpha(ranks) == pytest.approx(1.0)
    b = R.bootstrap_alpha(ranks, n_resamples=200)
    assert b["alpha"] == pytest.approx(1.0) and b["lo"] == pytest.approx(1.0) and b["hi"] == pytest.approx(1.0)


def test_random_rankings_give_alpha_near_zero():
    rng = np.random.default_rng(1)
    ranks = np.stack([rng.permutation(5) + 1.0 for _ in range(2000)])
    assert abs(R.alpha(ranks)) < 0.02


def test_rank_methods_best_is_one_and_direction():
    s = np.array([[0.1, 0.5, 0.3], [3.0, 1.0, 2.0]])
    assert R.rank_methods(s).tolist() == [[3, 1, 2], [1, 3, 2]]
    assert R.rank_methods(s, higher_is_better=False).tolist() == [[1, 3, 2], [3, 1, 2]]
    s[0, 1] = np.nan
    r = R.rank_methods(s)
    assert np.isnan(r[0]).all() and r[1].tolist() == [1, 3, 2]


def test_alpha_matches_package_and_ignores_missing_raters():
    s = _scores()
    ranks = R.rank_methods(s)
    direct = krippendorff.alpha(reliability_data=ranks, level_of_measurement="ordinal")
    assert R.alpha(ranks) == pytest.approx(direct)
    with_nan = np.vstack([ranks, np.full((1, 5), np.nan)])
    assert R.alpha(with_nan) == pytest.approx(direct)
    # reversing every ranking does not change agreement
    assert R.alpha(6 - ranks) == pytest.approx(direct)


def test_bootstrap_value_counts_equal_resampled_tables():
    ranks = R.rank_methods(_scores(n=40, seed=3))
    b = R.bootstrap_alpha(ranks, n_resamples=30, seed=7)
    rng = np.random.default_rng(7)  # the same draws as bootstrap_alpha makes
    for k in range(30):
        idx = rng.integers(0, len(ranks), len(ranks))
        ref = krippendorff.alpha(reliability_data=ranks[idx], level_of_measurement="ordinal")
        assert b["samples"][k] == pytest.approx(ref, abs=1e-12)
    assert b["lo"] <= b["alpha"] <= b["hi"]


def test_bootstrap_is_seeded():
    ranks = R.rank_methods(_scores(seed=4))
    a, b = R.bootstrap_alpha(ranks, 300, seed=5), R.bootstrap_alpha(ranks, 300, seed=5)
    assert (a["lo"], a["hi"]) == (b["lo"], b["hi"])
    c = R.bootstrap_alpha(ranks, 300, seed=6)
    assert (a["lo"], a["hi"]) != (c["lo"], c["hi"])


def test_spearman_statistics():
    s = _scores(seed=2)
    im = R.inter_method(s)
    pairs = [stats.spearmanr(s[:, i], s[:, j]).statistic for i in range(5) for j in range(i + 1, 5)]
    assert im["mean"] == pytest.approx(np.mean(pairs))
    assert R.inter_method(np.tile(s[:, :1], (1, 4)))["mean"] == pytest.approx(1.0)
    other = s + np.random.default_rng(9).normal(size=s.shape)
    ic = R.internal_consistency(s, other)
    assert ic == pytest.approx([stats.spearmanr(s[:, m], other[:, m]).statistic for m in range(5)])
    assert R.internal_consistency(s, -s) == pytest.approx(-np.ones(5))
    # NaN images are left out
    s2 = s.copy()
    s2[0, 0] = np.nan
    assert R.spearman(s2[:, 0], s[:, 1]) == pytest.approx(stats.spearmanr(s[1:, 0], s[1:, 1]).statistic)


def test_bad_input_raises():
    with pytest.raises(ValueError):
        R.rank_methods(np.arange(5.0))
    with pytest.raises(ValueError):
        R.alpha(np.ones((1, 5)))
    with pytest.raises(ValueError):
        R.alpha(np.ones((10, 5)))  # a single rank value: alpha undefined
    with pytest.raises(ValueError):
        R.internal_consistency(np.ones((4, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError):
        R.spearman([1, 2, 3], [1, 2])
