"""The statistics spine: intervals against scipy, cluster resampling, exact rank tests, censoring, and the
verdict rule pinned on constructed cases."""
import math

import numpy as np
import pytest
from scipy import stats as st

from xaikit import results, stats
from xaikit.stats import Interval, verdict


def ci(lo, hi, est=None, n=30):
    return Interval((lo + hi) / 2 if est is None else est, lo, hi, n)


# ------------------------------------------------------------------------------------------ verdict rule

@pytest.mark.parametrize("interval,kind,ref,tol,expected", [
    (ci(0.80, 0.90), "equal", 0.85, 0.05, "held"),             # within 0.85 +- 0.05
    (ci(0.80, 0.89), "equal", 0.95, 0.05, "not held"),         # wholly outside 0.95 +- 0.05
    (ci(0.80, 0.90), "equal", 0.95, 0.05, "inconclusive"),     # touches the band: not surely farther than tol
    (ci(0.55, 0.80), "equal", (0.57, 0.77), 0.05, "held"),     # a stated range: within [0.52, 0.82]
    (ci(0.10, 0.30), "equal", (0.57, 0.77), 0.05, "not held"),
    (ci(-0.01, 0.02), "equivalent", 0.0, 0.03, "held"),        # "follows closely": difference within +-tol
    (ci(0.04, 0.09), "equivalent", 0.0, 0.03, "not held"),
    (ci(0.00, 0.09), "equivalent", 0.0, 0.03, "inconclusive"),
    (ci(0.60, 0.99), "equal", 0.85, 0.05, "inconclusive"),     # inside but too wide
    (ci(0.80, 0.90), "equal", 0.86, 0.05, "inconclusive"),     # contains it, but 0.80 is 0.06 away
    (ci(-0.02, -0.001), "equal", 0.0, 0.1, "held"),            # misses 0 by a hair, far inside +-0.1
    (ci(0.10, 0.30), "greater", 0.0, None, "held"),
    (ci(-0.30, -0.10), "greater", 0.0, None, "not held"),      # other side
    (ci(-0.10, 0.30), "greater", 0.0, None, "inconclusive"),
    (ci(-0.01, 0.01), "greater", 0.0, 0.02, "not held"),       # within +-tol: no effect that large
    (ci(-0.01, 0.01), "greater", 0.0, None, "inconclusive"),
    (ci(-0.30, -0.10), "less", 0.0, None, "held"),
    (ci(0.60, 0.70), "less", 0.667, None, "inconclusive"),
    (ci(0.40, 0.60), "less", 0.667, None, "held"),
])
def test_verdict_rule(interval, kind, ref, tol, expected):
    v = verdict(interval, kind, ref, tol)
    assert v.verdict == expected, v.reason
    assert v.reason


def test_verdict_states_the_width_that_would_decide():
    v = verdict(ci(0.60, 0.99), "equal", 0.85, 0.05)
    assert v.decide_width == pytest.approx(0.10)
    v = verdict(ci(-0.10, 0.30, est=0.1), "greater")
    assert v.decide_width == pytest.approx(0.2) and "0.2" in v.reason


def test_few_units_decide_nothing():
    # 3 wins out of 3: every bootstrap resample is a win, the interval collapses to [1, 1].
    three = stats.bootstrap([1.0, 1.0, 1.0])
    v = verdict(three, "greater")
    assert v.verdict == "inconclusive" and "fewer than" in v.reason
    nested = stats.bootstrap(np.arange(40.0) + 1, clusters=np.repeat(np.arange(4), 10))
    assert verdict(nested, "greater").verdict == "inconclusive"          # 40 pairs, but 4 images
    assert verdict(stats.t_interval([0.10, 0.12, 0.11]), "greater").verdict == "held"   # seeds: t is exact


def test_an_order_among_few_methods_needs_its_permutation_p():
    paper = np.array([0.95, 0.89, 0.83, 0.82, 0.68])
    rng = np.random.default_rng(0)
    swapped = np.array([0.95, 0.83, 0.89, 0.68, 0.82]) + rng.normal(0, 0.005, size=(40, 5))   # rho = 0.8
    c, t = stats.rank_agreement(swapped, paper)
    assert c.low > 0 and t.p_value == pytest.approx(8 / 120) and c.p_value == t.p_value
    v = verdict(c, "greater")
    assert v.verdict == "inconclusive" and "permutation" in v.reason
    same = paper + rng.normal(0, 0.005, size=(40, 5))
    c, t = stats.rank_agreement(same, paper)
    # every resample ranks the 5 methods alike: the bootstrap interval of the Spearman collapses and decides
    # nothing; the order is decided by its exact permutation test
    assert c.low == c.high == 1.0 and "degenerate" in verdict(c, "greater").reason
    assert stats.order_verdict(t.statistic, 5).verdict == "held"


def test_the_permutation_gate_works_on_both_sides():
    # An order among 5 methods whose interval lies below 0 is not "not held" by its sign alone.
    below = Interval(-0.03, -0.05, -0.01, 40, p_value=0.55, p_reverse=0.5)
    v = verdict(below, "greater")
    assert v.verdict == "inconclusive" and "reversed" in v.reason
    assert verdict(Interval(-0.03, -0.05, -0.01, 40, p_value=0.55), "greater").verdict == "inconclusive"
    reversed_ = Interval(-1.0, -1.0, -0.9, 40, p_value=1.0, p_reverse=1 / 120)
    assert verdict(reversed_, "greater").verdict == "not held"


def test_order_verdict_is_the_exact_permutation_test():
    p, q, exact = stats.order_test(1.0, 5)
    assert exact and p == pytest.approx(1 / 120) and q == pytest.approx(1.0)
    assert stats.order_verdict(1.0, 5).verdict == "held"
    assert stats.order_verdict(-1.0, 5).verdict == "not held"
    assert stats.order_verdict(0.8, 5).verdict == "inconclusive"          # p = 8/120
    assert stats.order_verdict(1.0, 4).verdict == "held"                  # p = 1/24 = 0.042
    v = stats.order_verdict(1.0, 3)                                       # 1/6: no order of 3 items decides
    assert v.verdict == "inconclusive" and "smallest p" in v.reason
    # a rho read back from a results file (6 digits) counts as the lattice point it was: 0.7714285... over 6
    # items has p = 37/720, not the 21/720 of the rounded-up 0.771429
    assert stats.order_test(0.771429, 6)[0] == stats.order_test(27 / 35, 6)[0] == pytest.approx(37 / 720)
    # agrees with scipy's exact permutation test on untied values
    x = np.array([3.0, 1.0, 4.0, 1.5, 5.0, 9.0])
    y = np.array([2.0, 7.0, 1.0, 8.0, 2.5, 8.5])
    t = stats.rank_test(x, y)
    assert stats.order_test(t.statistic, 6)[0] == pytest.approx(t.p_value)
    r = stats.rank_test(x, y, alternative="less")
    assert stats.order_test(t.statistic, 6)[1] == pytest.approx(r.p_value)


def test_degenerate_bootstrap_intervals_decide_nothing():
    v = verdict(Interval(1.0, 1.0, 1.0, 40), "greater", 0.5)
    assert v.verdict == "inconclusive" and "degenerate" in v.reason
    b = stats.binomial_interval(40, 40)                 # the exact interval of 40/40 is not a point
    assert b.low == pytest.approx(st.beta.ppf(0.025, 40, 1)) and b.high == 1.0
    assert verdict(b, "greater", 0.8).verdict == "held"
    with pytest.raises(ValueError):
        stats.binomial_interval(5, 4)


def test_not_comparable_overrides_everything():
    assert verdict(ci(0.80, 0.90), "equal", 0.85, 0.05, comparable=False).verdict == "not comparable"
    v = verdict(ci(0.80, 0.90), "equal", 0.85, 0.05, comparable=False, why="LRP not meaningful here")
    assert v.reason.startswith("LRP not meaningful here")


def test_verdict_rejects_bad_claims():
    with pytest.raises(ValueError, match="tol"):
        verdict(ci(0, 1), "equal", 0.5)
    with pytest.raises(ValueError, match="kind"):
        verdict(ci(0, 1), "bigger")


# ------------------------------------------------------------------------------------------ bootstrap

@pytest.mark.parametrize("method,scipy_method", [("percentile", "percentile"), ("bca", "BCa")])
def test_bootstrap_agrees_with_scipy(method, scipy_method):
    x = np.random.default_rng(1).gamma(2.0, 1.0, size=60)
    ours = stats.bootstrap(x, method=method, n_resamples=20_000, seed=3)
    ref = st.bootstrap((x,), np.mean, method=scipy_method, n_resamples=20_000, rng=4).confidence_interval
    assert ours.estimate == pytest.approx(x.mean())
    assert ours.low == pytest.approx(ref.low, abs=0.03)
    assert ours.high == pytest.approx(ref.high, abs=0.03)


def test_bootstrap_is_seeded_and_degenerate_cases_collapse():
    x = np.random.default_rng(0).normal(size=40)
    assert stats.bootstrap(x, seed=5) == stats.bootstrap(x, seed=5)
    assert stats.bootstrap(x, seed=5) != stats.bootstrap(x, seed=6)
    flat = stats.bootstrap(np.full(10, 0.7))
    assert (flat.low, flat.high) == (0.7, 0.7)


def test_bootstrap_median_and_callable_agree():
    x = np.random.default_rng(2).normal(size=35)
    a = stats.bootstrap(x, "median", method="percentile", seed=1)
    b = stats.bootstrap(x, lambda r: float(np.median(r)), method="percentile", seed=1)
    assert a == b


def test_cluster_bootstrap_is_wider_when_units_are_nested():
    # 20 images x 10 pairs; image effects dominate, so treating the 200 pairs as independent is too narrow.
    rng = np.random.default_rng(0)
    img = np.repeat(np.arange(20), 10)
    x = rng.normal(size=20)[img] + 0.1 * rng.normal(size=200)
    naive = stats.bootstrap(x, method="percentile")
    clustered = stats.bootstrap(x, clusters=img, method="percentile")
    assert clustered.n_clusters == 20 and clustered.n == 200
    assert clustered.width > 2 * naive.width
    # Pooled mean of resampled clusters: unequal cluster sizes weight by size.
    x2, c2 = np.array([1.0, 1.0, 1.0, 4.0]), np.array([0, 0, 0, 1])
    assert stats.bootstrap(x2, clusters=c2, method="percentile").estimate == pytest.approx(1.75)


def test_cluster_mean_fast_path_equals_generic_path():
    rng = np.random.default_rng(3)
    c = rng.integers(0, 12, size=80)
    x = rng.normal(size=80)
    fast = stats.bootstrap(x, "mean", clusters=c, method="percentile", seed=2)
    slow = stats.bootstrap(x, lambda r: float(np.mean(r)), clusters=c, method="percentile", seed=2)
    assert slow.estimate == pytest.approx(fast.estimate)
    assert slow.low == pytest.approx(fast.low, abs=0.05) and slow.high == pytest.approx(fast.high, abs=0.05)


def test_bootstrap_coverage_matches_scipys_bca():
    # At n = 30 bootstrap intervals under-cover a little (about 0.90-0.93); ours must cover as scipy's does.
    rng = np.random.default_rng(7)
    ours = ref = 0
    for k in range(200):
        x = rng.normal(0.5, 1.0, size=30)
        c = stats.bootstrap(x, method="bca", n_resamples=2000, seed=k)
        r = st.bootstrap((x,), np.mean, method="BCa", n_resamples=2000, rng=k).confidence_interval
        ours += c.low <= 0.5 <= c.high
        ref += r.low <= 0.5 <= r.high
    assert ours / 200 >= 0.85 and abs(ours - ref) <= 6


def test_t_interval_for_few_seeds():
    c = stats.t_interval([0.70, 0.72, 0.74])
    assert c.estimate == pytest.approx(0.72) and c.method == "t" and c.n == 3
    assert c.high - c.estimate == pytest.approx(st.t.ppf(0.975, 2) * 0.02 / np.sqrt(3))


def test_paired_difference_and_bad_input():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    d = stats.paired_difference(a + 1, a)
    assert (d.estimate, d.low, d.high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="same shape"):
        stats.paired_difference(a, a[:3])
    with pytest.raises(ValueError, match="NaN"):
        stats.bootstrap([1.0, float("nan")])
    with pytest.raises(ValueError, match="at least one"):
        stats.bootstrap([])
    with pytest.raises(ValueError, match="too few"):
        stats.bootstrap(a, n_resamples=100)


# ------------------------------------------------------------------------------------------ rank tests

def test_exact_rank_test_at_small_n():
    t = stats.rank_test([1, 2, 3, 4, 5], [10, 20, 30, 40, 50])
    assert t.exact and t.statistic == pytest.approx(1.0)
    assert t.p_value == pytest.approx(1 / 120)         # only the identity pairing is as extreme
    k = stats.rank_test([1, 2, 3, 4, 5], [10, 20, 30, 40, 50], method="kendall")
    assert k.statistic == pytest.approx(1.0) and k.p_value == pytest.approx(1 / 120)
    rev = stats.rank_test([1, 2, 3, 4, 5], [5, 4, 3, 2, 1])
    assert rev.p_value == pytest.approx(1.0)


def test_rank_test_matches_scipy_statistics():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=12), rng.normal(size=12)
    assert stats.rank_test(x, y).statistic == pytest.approx(st.spearmanr(x, y).statistic)
    assert stats.rank_test(x, y, method="kendall").statistic == pytest.approx(st.kendalltau(x, y).statistic)
    assert not stats.rank_test(x, y).exact


def test_rank_agreement_interval_over_images():
    rng = np.random.default_rng(1)
    paper = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    per_image = paper + rng.normal(0, 0.02, size=(40, 5))
    ci_, test = stats.rank_agreement(per_image, paper)
    assert test.statistic == pytest.approx(1.0) and test.p_value == pytest.approx(1 / 120)
    assert ci_.low > 0.5 and ci_.high == pytest.approx(1.0)
    noisy = paper + rng.normal(0, 1.0, size=(40, 5))
    wide, _ = stats.rank_agreement(noisy, paper)
    assert wide.width > ci_.width


# ------------------------------------------------------------------------------------------ censoring

def test_censored_summary_counts_and_never_averages_the_cap():
    x = np.array([0.1, 0.2, 0.3, 0.4, 1.0, 1.0])
    s = stats.censored_summary(x, cap=1.0)
    assert s["n"] == 6 and s["n_censored"] == 2
    assert "mean" not in s
    assert s["median"] == pytest.approx(0.3)
    most = stats.censored_summary(np.array([0.1, 1.0, 1.0, 1.0, 1.0]), cap=1.0)
    assert most["median"] is None and not most["median_identified"] and most["high"] is None


# ------------------------------------------------------------------------------------------ results

def test_results_compare_saves_units_interval_and_verdict(tmp_path):
    res = results.Results("99_demo", "smoke", seed=0, root=tmp_path, model="m", source="s")
    x = np.random.default_rng(0).normal(0.9, 0.01, size=50)
    v = res.compare("ssim.gb", x, claim="mean SSIM, Guided Backprop", kind="equal", paper=0.9, tol=0.01,
                    paper_where="Table 1", unit_ids=[f"img{i}" for i in range(50)])
    assert v.verdict == "held"
    with pytest.raises(ValueError, match="compare"):
        res.add("x", 1.0, paper=0.5)
    res.save()
    doc = results.read(res.path)
    e = doc["values"]["ssim.gb"]
    assert e["n"] == 50 and len(e["units"]) == 50 and e["verdict"] == "held" and e["reason"]
    assert e["ci"][0] <= e["value"] <= e["ci"][1]
    recomputed = stats.bootstrap(e["units"], seed=0)
    assert recomputed.low == pytest.approx(e["ci"][0], abs=1e-5)
    table = res.comparison_table()
    assert "| mean SSIM, Guided Backprop |" in table and "**held**" in table


def test_results_compare_accepts_a_precomputed_interval(tmp_path):
    res = results.Results("99_demo", "smoke", seed=0, root=tmp_path)
    c = Interval(0.5, 0.45, 0.55, 12, unit="seed")
    v = res.compare("acc", c, claim="accuracy", kind="equal", paper=0.9, tol=0.02, comparable=False)
    assert v.verdict == "not comparable"
    assert res.values["acc"]["n"] == 12 and res.values["acc"]["paper"] == 0.9
    assert math.isclose(res.values["acc"]["reference"], 0.9)
