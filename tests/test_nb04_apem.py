"""Notebook 04 (APEM, Valle 2019) in the smoke profile: identities between its saved values, verdicts, the draws."""

import numpy as np
import pytest
from _checks import check_comparisons
from scipy import stats as sps

from xaikit import apem

NB = "04_apem_adversarial_perturbation"
METHODS = ("Gradient", "SmoothGrad", "LRP")
pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def values(run_smoke):
    return run_smoke(NB)["values"]


@pytest.fixture(scope="module")
def cap(values):
    c = values["search_forward"]["params"]["max_eps"]
    assert values["search_forward"]["params"]["paces"] == [1]  # the CIFAR arm uses the exact search
    return c


def test_every_paper_comparison_carries_its_verdict(values):
    compared = check_comparisons(values)
    assert len(compared) >= 40
    for k, e in compared.items():
        if k.startswith("imagenet_"):
            assert "ImageNet" in e["source"] and "efficientnet_lite0" in e["model"], k
        else:
            assert "CIFAR-10" in e["source"] and e["model"].startswith("cifar_cnn"), k


def test_the_draws_are_saved_and_match_the_units(values):
    draw = values["draw"]["value"]
    assert len(set(draw)) == len(draw) and all(n.startswith("test/") for n in draw)
    n_c = len(values["eps_minus_Gradient"]["value"])
    assert values["eps_minus_Gradient"]["unit_ids"] == draw[:n_c]
    assert values["loss"]["unit_ids"] == draw and len(values["loss"]["value"]) == len(draw)
    assert values["images_predicted"]["value"] >= len(draw)
    inet = values["imagenet_draw"]["value"]
    assert len(set(inet)) == len(inet) and all(n.endswith(".JPEG") for n in inet)
    assert values["imagenet_eps_Gradient"]["unit_ids"] == inet


def test_no_mean_and_absolute_values_not_comparable(values):
    assert not [k for k in values if "apem_mean" in k]  # means would be driven by the search cap
    for m in METHODS:
        for k in (f"apem_median_{m}_final", f"apem_median_misclassified_{m}", f"imagenet_apem_median_{m}_final"):
            assert values[k]["verdict"] == "not comparable", k   # the registry: absolute APEM does not transfer
    assert values["apem_median_Gradient_final"]["paper"] == 81.0


def test_lrp_graded_on_the_cifar_cnn_never_on_efficientnet(values):
    for k in ("order_Gradient_over_LRP", "order_LRP_over_SmoothGrad", "steps_LRP_1_over_2",
              "spearman_loss_LRP_total", "correct_over_misclassified_LRP", "real_over_shuffled_LRP_final"):
        assert values[k]["verdict"] != "not comparable", k
    lrp_in = [k for k, e in values.items() if "verdict" in e and k.startswith("imagenet_") and "LRP" in k]
    assert lrp_in
    for k in lrp_in:
        assert values[k]["verdict"] == "not comparable", k
        assert "LRP is not meaningful" in values[k]["reason"], k


def test_censored_medians_match_the_saved_eps(values, cap):
    for m in METHODS:
        em, ep = np.array(values[f"eps_minus_{m}"]["value"]), np.array(values[f"eps_plus_{m}"]["value"])
        assert (em >= 1).all() and (ep >= 1).all() and (em <= cap + 1).all() and (ep <= cap + 1).all()
        e = values[f"apem_median_{m}_final"]
        assert e["units"] == (ep - em).tolist() and e["censored"] == (ep > cap).tolist()
        s = e["summary"]
        assert s["n_censored"] == int((ep > cap).sum()) and s["n"] == len(em)
        x = np.where(ep > cap, np.inf, ep - em)
        med = np.quantile(x, 0.5, method="inverted_cdf")
        assert (s["median"] is None) == (not np.isfinite(med))
        if s["median"] is not None:
            assert s["median"] == pytest.approx(med)


def test_order_signs_follow_from_the_eps(values, cap):
    b = {m: apem.apem_bounds(values[f"eps_minus_{m}"]["value"], values[f"eps_plus_{m}"]["value"], cap)
         for m in METHODS}
    for x, y in (("Gradient", "SmoothGrad"), ("Gradient", "LRP"), ("LRP", "SmoothGrad")):
        e = values[f"order_{x}_over_{y}"]
        s = apem.bound_sign(b[x], b[y])
        assert e["units"] == s.tolist() and e["value"] == pytest.approx(s.mean())
        assert e["kind"] == "greater" and e["reference"] == 0
    for k, e in values.items():
        if k.startswith(("order_", "steps_", "real_over_shuffled", "imagenet_order_", "imagenet_steps_")):
            assert set(e["units"]) <= {-1.0, 0.0, 1.0}, k


def test_imagenet_order_follows_from_its_eps(values):
    ig, isg = values["imagenet_eps_Gradient"]["value"], values["imagenet_eps_SmoothGrad"]["value"]
    n_c = ig["n_correct"]
    b = [apem.apem_bounds(v["minus"][:n_c], v["plus"][:n_c], 10000) for v in (ig, isg)]
    e = values["imagenet_order_Gradient_over_SmoothGrad"]
    assert e["units"] == apem.bound_sign(*b).tolist() and e["n"] == n_c


def test_rank_correlations_have_permutation_p_and_match_the_units(values):
    rows = [k for k in values if k.startswith("spearman_loss_")]
    assert len(rows) == 12
    for k in rows:
        e = values[k]
        a = np.array(e["units"])
        rho = sps.spearmanr(a[:, 0], a[:, 1])[0]
        assert e["value"] == pytest.approx(0.0 if not np.isfinite(rho) else rho, abs=1e-6), k
        assert 0 < e["p_exact"] <= 1 and e["p_is_exact"] == (len(a) <= 8), k
        assert e["kind"] in ("less", "equal") and -1 <= e["ci"][0] <= e["ci"][1] <= 1, k
        assert "p" not in e  # no asymptotic p-values
    assert values["spearman_loss_Confidence_correct"]["value"] == pytest.approx(-1.0)  # loss = -log confidence


def test_pairwise_fractions_match_the_eps(values):
    gap = {m: np.array(values[f"eps_plus_{m}"]["value"]) - np.array(values[f"eps_minus_{m}"]["value"])
           for m in METHODS}
    for key, p in values["pairwise_final"]["value"].items():
        a, b = key.split(" vs ")
        assert p["better"] + p["equal"] + p["worse"] == pytest.approx(1)
        assert p["better"] == pytest.approx(float(np.mean(gap[a] > gap[b])))
        assert p["worse"] == pytest.approx(float(np.mean(gap[a] < gap[b])))


def test_exact_search_never_later_than_the_authors(values, cap):
    e = values["exact_vs_authors"]["value"]
    # the authors' answer is an eps that flips, so the first flip cannot come later
    assert all(x <= a for x, a in zip(e["exact_eps"], e["authors_eps"]))
    assert all(1 <= x <= cap + 1 for x in e["exact_eps"]) and e["cap"] == cap
    assert e["authors_missed_all"] == sum(x <= cap and a > 10000 for x, a in zip(e["exact_eps"], e["authors_eps"]))
    n = len(values["eps_minus_Gradient"]["value"])
    k = e["searches"] // 2
    assert e["exact_eps"][:k] == values["eps_minus_Gradient"]["value"][:k]
    assert e["exact_eps"][k:] == values["eps_plus_Gradient"]["value"][:k] and k <= n


def test_shuffled_maps_saved_and_graded(values, cap):
    for m in METHODS:
        sh = values[f"shuffled_eps_{m}_final"]["value"]
        rel, ok = apem.relative_gap(sh["minus"], sh["plus"], cap)
        if ok.any():
            e = values[f"shuffled_relgap_{m}_final"]
            assert e["units"] == pytest.approx(rel[ok].tolist(), abs=1e-6) and e["kind"] == "equal" and e["tol"] == 0.1
        assert "verdict" in values[f"real_over_shuffled_{m}_final"]


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
              "fig5_2_shuffled.png", "fig4_8_filter.png", "imagenet_strip.png", "imagenet_maps.png"):
        assert (d / f).is_file() and (d / f).stat().st_size > 0, f
