"""xaikit.reliability: Krippendorff's alpha of method rankings, bootstrap intervals, Spearman statistics."""
import krippendorff
import numpy as np
import pytest
from scipy import stats

from xaikit import reliability as R
from xaikit import stats as kstats


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


def test_bootstrap_defaults_are_the_kits():
    from xaikit import stats as S
    b = R.bootstrap_alpha(R.rank_methods(_scores(seed=6)))
    assert b["n_resamples"] == S.N_RESAMPLES == len(b["samples"]) and b["interval"] == S.LEVEL == 0.95
    ci = b["ci"]
    assert (ci.low, ci.high, ci.n, ci.level, ci.method) == (b["lo"], b["hi"], 60, 0.95, "percentile")


@pytest.mark.parametrize("level", ["ordinal", "interval", "nominal"])
def test_vectorised_alpha_equals_package(level):
    rng = np.random.default_rng(11)
    ranks = R.rank_methods(np.round(_scores(n=30, seed=8), 1))  # rounding makes ties: half ranks
    domain = np.unique(ranks)
    for _ in range(5):
        idx = rng.integers(0, len(ranks), len(ranks))
        counts = R._onehot(ranks[idx], domain).sum(0)
        ref = krippendorff.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)
        assert R.alpha_from_counts(counts, domain, level) == pytest.approx(ref, abs=1e-12)
    # a table with one value only: alpha undefined, NaN rather than an error
    assert np.isnan(R.alpha_from_counts(np.array([[3.0, 0.0], [2.0, 0.0]]), np.array([1.0, 2.0])))


def test_alpha_difference_is_paired():
    ranks = R.rank_methods(_scores(n=50, seed=9))
    same = R.bootstrap_alpha_difference(ranks, ranks, n_resamples=2000)
    assert same["difference"] == 0 and same["lo"] == same["hi"] == 0  # same images in both: no spread
    noisy = R.rank_methods(_scores(n=50, signal=0.2, seed=9))
    d = R.bootstrap_alpha_difference(ranks, noisy, n_resamples=2000, seed=1)
    assert d["difference"] == pytest.approx(R.alpha(ranks) - R.alpha(noisy))
    assert 0 < d["lo"] <= d["difference"] <= d["hi"]
    with pytest.raises(ValueError):
        R.bootstrap_alpha_difference(ranks, ranks[:-1])


def test_mean_pairwise_spearman_equals_inter_method():
    s = _scores(seed=12)
    assert R.mean_pairwise_spearman(s) == pytest.approx(R.inter_method(s)["mean"])
    assert R.spearman_rows(s[:, :2]) == pytest.approx(stats.spearmanr(s[:, 0], s[:, 1]).statistic)


@pytest.mark.parametrize("k", [2, 5])
def test_batched_spearman_bootstrap_equals_the_loop(k):
    """Percentile intervals compute mean_pairwise_spearman on chunks of resamples (its .batched): the same draws
    and, up to float rounding, the same interval as one call per resample; ties and a constant column included."""
    a = np.random.default_rng(k).normal(size=(25, k))
    a[:6, 0] = a[0, 0]
    fn = R.spearman_rows if k == 2 else R.mean_pairwise_spearman
    fast = kstats.bootstrap(a, fn, method="percentile", seed=3)
    slow = kstats.bootstrap(a, lambda rows: fn(rows), method="percentile", seed=3)
    assert fast.estimate == slow.estimate and fast.method == slow.method
    assert fast.low == pytest.approx(slow.low, abs=1e-12) and fast.high == pytest.approx(slow.high, abs=1e-12)
    # BCa keeps one call per resample (it counts replicates equal to the estimate): the very same interval
    assert kstats.bootstrap(a, fn, seed=3) == kstats.bootstrap(a, lambda rows: fn(rows), seed=3)
    flat = np.column_stack([np.zeros(9), np.arange(9.0)] + [np.arange(9.0)[::-1]] * (k - 2))
    assert R.mean_pairwise_spearman.batched(flat[None])[0] == pytest.approx(R.mean_pairwise_spearman(flat))


def test_across_images_is_one_for_one_map_and_near_zero_for_unrelated_maps():
    rng = np.random.default_rng(0)
    one = np.tile(rng.normal(size=(1, 8, 8)), (5, 1, 1))
    assert R.across_images(one) == pytest.approx(np.ones(5))
    unrelated = R.across_images(rng.normal(size=(6, 32, 32)))
    assert unrelated.shape == (6,) and np.all(np.abs(unrelated) < 0.1)
    # a monotone transform of one image's map leaves its ranks, so the value, unchanged
    maps = rng.normal(size=(4, 16))
    bent = maps.copy()
    bent[0] = np.exp(bent[0])
    assert R.across_images(bent) == pytest.approx(R.across_images(maps))
    with pytest.raises(ValueError, match="at least 2"):
        R.across_images(maps[:1])


def test_perturbation_effects_is_the_difference_of_the_two_level_changes():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(60, 1)) + rng.normal(size=(60, 4)) * 0.5
    other = base + rng.normal(size=(60, 4)) * 0.8            # the same images under another setting
    ci = R.perturbation_effects(base, other, n_resamples=2000, seed=1)
    ra, rb = R.rank_methods(base), R.rank_methods(other)
    direct = (abs(R.mean_pairwise_spearman(base) - R.mean_pairwise_spearman(other))
              - abs(R.alpha(ra) - R.alpha(rb)))
    assert ci.estimate == pytest.approx(direct) and ci.low < ci.estimate < ci.high and ci.n == 60
    same = R.perturbation_effects(base, base, n_resamples=2000)
    assert same.low == same.high == 0   # no change of setting: both effects 0 on every resample
    with pytest.raises(ValueError, match="same images"):
        R.perturbation_effects(base, other[:10])
