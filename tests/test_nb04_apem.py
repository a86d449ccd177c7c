"""Notebook 04 (APEM, Valle 2019) in the smoke profile: identities between its saved values, verdicts, the draw."""

import numpy as np
import pytest
from scipy import stats as sps

from xaikit import apem

NB = "04_apem_adversarial_perturbation"
METHODS = ("Gradient", "SmoothGrad", "LRP")
CAP = 10000
pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def values(run_smoke):
    return run_smoke(NB)["values"]


def test_every_paper_comparison_carries_its_verdict(values):
    compared = {k: e for k, e in values.items() if "paper" in e}
    assert len(compared) >= 20
    for k, e in compared.items():
        for field in ("verdict", "ci", "n", "reason"):
            assert field in e, (k, field)
        assert e["verdict"] in ("held", "not held", "inconclusive", "not comparable"), k
        lo, hi = e["ci"]
        assert lo <= hi and e["n"] >= 1, k
        assert "ImageNet" in e["source"] and "efficientnet_lite0" in e["model"], k


def test_the_draw_is_saved_and_matches_the_units(values):
    draw, pool = values["draw"]["value"], values["pool_draw"]["value"]
    assert len(set(draw)) == len(draw) and set(draw) <= set(pool)
    assert all(n.endswith(".JPEG") for n in draw)
    n_c = len(values["eps_minus_Gradient"]["value"])
    assert values["eps_minus_Gradient"]["unit_ids"] == draw[:n_c]
    assert values["loss"]["unit_ids"] == draw


def test_no_mean_and_absolute_values_not_comparable(values):
    assert not [k for k in values if k.startswith("apem_mean")]  # means would be driven by the search cap
    for m in METHODS:
        for k in (f"apem_median_{m}_final", f"apem_median_misclassified_{m}"):
            assert values[k]["verdict"] == "not comparable", k
    assert values["apem_median_Gradient_final"]["paper"] == 81.0


def test_lrp_is_never_graded(values):
    for k, e in values.items():
        if "verdict" in e and "LRP" in k:
            assert e["verdict"] == "not comparable", k
            assert e["reason"].startswith("LRP not meaningful on EfficientNet-Lite0"), k


def test_censored_medians_match_the_saved_eps(values):
    for m in METHODS:
        em, ep = np.array(values[f"eps_minus_{m}"]["value"]), np.array(values[f"eps_plus_{m}"]["value"])
        assert (em >= 1).all() and (ep >= 1).all() and (em <= CAP + 1).all() and (ep <= CAP + 1).all()
        e = values[f"apem_median_{m}_final"]
        assert e["units"] == (ep - em).tolist() and e["censored"] == (ep > CAP).tolist()
        s = e["summary"]
        assert s["n_censored"] == int((ep > CAP).sum()) and s["n"] == len(em)
        x = np.where(ep > CAP, np.inf, ep - em)
        med = np.quantile(x, 0.5, method="inverted_cdf")
        assert (s["median"] is None) == (not np.isfinite(med))
        if s["median"] is not None:
            assert s["median"] == pytest.approx(med)


def test_order_signs_follow_from_the_eps(values):
    b = {m: apem.apem_bounds(values[f"eps_minus_{m}"]["value"], values[f"eps_plus_{m}"]["value"], CAP)
         for m in METHODS}
    e = values["order_Gradient_over_SmoothGrad"]
    s = apem.bound_sign(b["Gradient"], b["SmoothGrad"])
    assert e["units"] == s.tolist() and e["value"] == pytest.approx(s.mean())
    assert e["kind"] == "greater" and e["reference"] == 0
    for k, e in values.items():
        if k.startswith(("order_", "steps_", "real_over_shuffled")):
            assert set(e["units"]) <= {-1.0, 0.0, 1.0}, k


def test_rank_correlations_have_exact_p_and_match_the_units(values):
    rows = [k for k in values if k.startswith("spearman_loss_")]
    assert rows
    for k in rows:
        e = values[k]
        a = np.array(e["units"])
        rho = sps.spearmanr(a[:, 0], a[:, 1])[0]
        assert e["value"] == pytest.approx(0.0 if not np.isfinite(rho) else rho, abs=1e-6), k
        assert 0 < e["p_exact"] <= 1 and e["p_is_exact"] == (len(a) <= 8), k
        assert e["kind"] in ("less", "equal") and -1 <= e["ci"][0] <= e["ci"][1] <= 1, k
        assert "p" not in e  # no asymptotic p-values


def test_pairwise_fractions_match_the_eps(values):
    gap = {m: np.array(values[f"eps_plus_{m}"]["value"]) - np.array(values[f"eps_minus_{m}"]["value"])
           for m in METHODS}
    for key, p in values["pairwise_final"]["value"].items():
        a, b = key.split(" vs ")
        assert p["better"] + p["equal"] + p["worse"] == pytest.approx(1)
        assert p["better"] == pytest.approx(float(np.mean(gap[a] > gap[b])))
        assert p["worse"] == pytest.approx(float(np.mean(gap[a] < gap[b])))


def test_exact_search_never_later_than_the_authors_and_costs_at_least_the_scan(values):
    e = values["exact_vs_authors"]["value"]
    # the authors' answer is an eps that flips, so the first flip cannot come later
    assert all(x <= a for x, a in zip(e["exact_eps"], e["authors_eps"]))
    assert all(1 <= x <= e["cap"] + 1 for x in e["exact_eps"])
    f = values["forward_per_map"]["value"]
    assert f["exact_batched_images"] >= f["plain_scan_images"]  # it tests every eps the scan tests
    assert f["exact_batched_calls"] < f["plain_scan_calls"]


def test_shuffled_maps_saved_and_graded(values):
    sh = values["shuffled_eps_Gradient_final"]["value"]
    rel, ok = apem.relative_gap(sh["minus"], sh["plus"], CAP)
    if ok.any():
        e = values["shuffled_relgap_Gradient_final"]
        assert e["units"] == pytest.approx(rel[ok].tolist()) and e["kind"] == "equal" and e["tol"] == 0.1
    assert "verdict" in values["real_over_shuffled_Gradient_final"]


def test_filter_never_lowers_apem(values):
    assert values["filter_never_lowers_apem"]["value"] is True
    f = values["filter_0"]["value"]
    assert f["apem_end"] >= f["apem_start"]
    apems = [p - m for m, p in f["trace"]]
    assert apems[0] == f["apem_start"] and apems[f["levels_zeroed"]] == f["apem_end"]
    assert apems[:f["levels_zeroed"] + 1] == sorted(apems[:f["levels_zeroed"] + 1])
    assert 0 < f["nonzero_kept_fraction"] <= 1
    assert values["filter_kept_fraction"]["units"][0] == pytest.approx(f["nonzero_kept_fraction"])


def test_lrp_check_saved(values):
    assert -1 <= values["lrp_vs_gxi_spearman_median"]["value"] <= 1


def test_figures_written(run_smoke, smoke_path):
    run_smoke(NB)
    d = smoke_path(NB) / "figures" / NB / "smoke"
    for f in ("fig4_1_4_6_relevance_maps.png", "fig4_2_4_3_boxplots.png", "fig4_4_pairwise.png",
              "fig5_2_shuffled.png", "fig4_8_filter.png"):
        assert (d / f).is_file() and (d / f).stat().st_size > 0, f
