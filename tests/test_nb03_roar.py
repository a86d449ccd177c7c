"""Notebook 03 (ROAR / KAR) in profile smoke: the values it saved, the graded claims and the same seed giving the
same file."""

import math

import numpy as np
import pytest
from scipy import stats as st

from _checks import check_comparisons
from xaikit.results import NOT_GRADED
from xaikit import claims, derive


NB = "03_roar_remove_and_retrain"
ESTS = {"gradient", "integrated_gradients", "guided_backprop", "smoothgrad_sq", "vargrad", "random", "sobel"}
FRACS = {0.1, 0.5, 0.9}
SEEDS = {0, 1}          # smoke: 2 training seeds, the fewest a t interval takes


@pytest.fixture(scope="module")
def doc(run_smoke):
    return run_smoke(NB)


def v(doc, name):
    return doc["values"][name]["value"]


def test_sanity_checks_saved_by_the_notebook(doc):
    assert v(doc, "fashion_mnist/t0_roar_equals_original") is True
    assert v(doc, "fashion_mnist/t100_kar_equals_original") is True
    assert v(doc, "fashion_mnist/max_removed_count_error") == 0
    assert v(doc, "fashion_mnist/random_mask_same_seed_equal") is True
    # another seed's random 50% mask overlaps the first about half (independent draws), not fully
    assert 0.35 < v(doc, "fashion_mnist/random_mask_other_seed_overlap") < 0.65
    assert v(doc, "fashion_mnist/retrain_same_seed_accuracy_diff") == 0
    assert v(doc, "fashion_mnist/retrain_same_seed_weights_equal") is True


def test_the_draw_is_saved_and_stratified(doc):
    for split, n in (("train", 300), ("test", 150)):
        e = doc["values"][f"fashion_mnist/draw_{split}"]
        names = e["value"]
        assert len(names) == len(set(names)) == n == e["n"]
        assert all(s.startswith(f"{split}[") for s in names)
        assert "seed 0" in e["source"] or "seed=0" in e["source"]
    # not the first 150 test images
    idx = sorted(int(s[5:-1]) for s in v(doc, "fashion_mnist/draw_test"))
    assert idx != list(range(150))


def test_the_grid_is_complete(doc):
    rows = v(doc, "fashion_mnist/retrained")
    grid = {(r["estimator"], r["mode"], r["fraction"], r["seed"]) for r in rows}
    assert grid == ({(e, m, f, s) for e in ESTS for m in ("roar", "kar") for f in FRACS for s in SEEDS}
                    | {("none", "roar", 0.0, s) for s in SEEDS})
    assert len(rows) == len(grid)
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
    # accuracies are counts over the 150 test images
    assert all(abs(r["accuracy"] * 150 - round(r["accuracy"] * 150)) < 1e-3 for r in rows)
    nr = v(doc, "fashion_mnist/not_retrained")
    # each seed's base model: every estimator has one row per seed, mode and fraction
    assert {(r["estimator"], r["mode"], r["fraction"], r["seed"]) for r in nr} == {
        (e, m, f, s) for e in ESTS for m in ("roar", "kar") for f in FRACS for s in SEEDS}


def test_unmodified_retraining_equals_the_base_models(doc):
    # estimator 'none' with seed s is seed s's base model: same data, settings and seed
    assert v(doc, "fashion_mnist/none_rows_equal_base_models") is True
    none = {r["seed"]: r["accuracy"] for r in v(doc, "fashion_mnist/retrained") if r["estimator"] == "none"}
    per_seed = v(doc, "fashion_mnist/base_accuracy_per_seed")
    assert {int(k): x for k, x in per_seed.items()} == none
    assert none[0] == v(doc, "fashion_mnist/base_accuracy")
    assert v(doc, "fashion_mnist/base_accuracy") > 0.3      # learnt something (chance: 0.1)


def test_costs_recorded(doc):
    cost = v(doc, "fashion_mnist/attribution_images_forwarded")
    n = 300 + 150
    assert cost["gradient"] == n and cost["guided_backprop"] == n
    assert cost["integrated_gradients"] == 4 * n                   # smoke: 4 IG steps
    assert cost["smoothgrad_sq"] == cost["vargrad"] == 4 * n        # smoke: 4 noisy samples
    assert cost["random"] == cost["sobel"] == 0
    assert v(doc, "fashion_mnist/retraining_cost")["trainings"] == 2 * (1 + 7 * 3 * 2)


def _acc(doc, key, est, mode):
    return {(r["seed"], r["fraction"]): r["accuracy"] for r in v(doc, key)
            if r["estimator"] == est and r["mode"] == mode}


def test_every_comparison_carries_its_interval_and_verdict(doc):
    graded = check_comparisons(doc["values"])       # fields present, verdict = the kit's rule on the saved interval
    comps = {k: e for k, e in doc["values"].items() if "paper" in e}
    derived = {k for k in comps if "derived_from" in doc["values"][k]}   # xaikit.derive: 10 random-baseline cells, Sobel
    assert len(comps) == 5 + 1 + 1 + 5 + 11 and len(derived) == 11
    # plus the mask-leak hypothesis (2 tests x 3 estimators) and its control (5 estimators), no paper value
    assert set(graded) - set(comps) == {f"fashion_mnist/{t}/{e}" for t in ("mask_only_minus_random",
                                                                            "follows_ranking_model")
                                        for e in ("smoothgrad_sq", "vargrad", "sobel")} | {
        f"fashion_mnist/retrained_minus_mask_only/{e}" for e in derive.GRADIENT_BASED}
    for k, e in comps.items():
        for field in ("verdict", "ci", "n", "reason", "kind", "claim", "paper_where", "units", "unit_ids"):
            assert field in e, (k, field)
        assert e["verdict"] in claims.STATUSES + (NOT_GRADED,)
        assert e["n"] == len(e["units"]) == len(e["unit_ids"]) == 2
        assert e["interval"]["method"] == "t" and e["interval"]["unit"] == "seed"
        assert e["ci"][0] <= e["value"] <= e["ci"][1]
        assert e.get("tol") in (0.02, 0.01) or k in derived
        assert e["reference"] == 0


def test_graded_values_are_paired_seed_differences_with_a_t_interval(doc):
    rand = _acc(doc, "fashion_mnist/retrained", "random", "roar")
    for est, kind in (("gradient", "greater"), ("integrated_gradients", "greater"), ("guided_backprop", "greater"),
                      ("smoothgrad_sq", "less"), ("vargrad", "less")):
        e = doc["values"][f"fashion_mnist/roar_minus_random/{est}"]
        assert e["kind"] == kind
        a = _acc(doc, "fashion_mnist/retrained", est, "roar")
        want = [np.mean([a[(s, f)] - rand[(s, f)] for f in sorted(FRACS)]) for s in sorted(SEEDS)]
        assert np.allclose(e["units"], want, atol=1e-5)
        m, sd = np.mean(want), np.std(want, ddof=1)
        h = st.t.ppf(0.975, len(want) - 1) * sd / math.sqrt(len(want))
        assert np.allclose(e["ci"], [m - h, m + h], atol=1e-5)
    # the distribution-shift claim pairs each seed's base model with that seed's retrained random runs
    e = doc["values"]["fashion_mnist/random_not_retrained_minus_retrained"]
    nr, rt = _acc(doc, "fashion_mnist/not_retrained", "random", "roar"), rand
    want = [np.mean([nr[(s, f)] for f in FRACS]) - np.mean([rt[(s, f)] for f in FRACS]) for s in sorted(SEEDS)]
    assert np.allclose(e["units"], want, atol=1e-5) and e["kind"] == "less"


def test_no_verdict_from_majority_votes(doc):
    assert not any("roar_vs_random" in k for k in doc["values"])
    assert "verdicts" not in doc["values"]


def test_figures_written(doc, smoke_path):
    d = smoke_path(NB) / "figures" / NB / "smoke"
    assert (d / "fig1_rankings_fashion_mnist.png").stat().st_size > 10_000
    assert (d / "fig2_roar_kar_curves.png").stat().st_size > 10_000
    assert (d / "fig3_differences_to_random_fashion_mnist.png").stat().st_size > 10_000


def test_mask_leak_rows_pair_with_the_grid_and_grade_seed_differences(doc):
    rows = v(doc, "fashion_mnist/mask_leak")
    assert {(r["estimator"], r["seed"]) for r in rows} == {(e, s) for e in ESTS | {"none"} for s in SEEDS}
    grid = {(r["estimator"], r["mode"], r["fraction"], r["seed"]): r["accuracy"]
            for r in v(doc, "fashion_mnist/retrained")}
    base = {int(k): x for k, x in v(doc, "fashion_mnist/base_accuracy_per_seed").items()}
    for r in rows:
        # the kept predictions give the grid's accuracies: the leak test looks at the very models the grid graded
        key = ("none", "roar", 0.0, r["seed"]) if r["estimator"] == "none" else (r["estimator"], "roar", 0.9, r["seed"])
        assert r["retrained_accuracy"] == pytest.approx(grid[key], abs=1e-5)
        assert r["n_base_wrong"] == round((1 - base[0]) * 150)       # the ranking model is seed 0's base model
        assert 0 <= r["retrained_wrong_follow_base"] + r["retrained_wrong_follow_label"] <= 1 + 1e-9
        if r["estimator"] == "none":
            assert "mask_only_accuracy" not in r
            if r["seed"] == 0:   # the seed-0 model is the ranking model: it follows itself everywhere
                assert r["retrained_with_base"] == 1.0 and r["retrained_wrong_follow_base"] == 1.0
        else:
            assert 0 <= r["mask_only_accuracy"] <= 1
            assert abs(r["mask_only_accuracy"] * 150 - round(r["mask_only_accuracy"] * 150)) < 1e-3
    # random masks carry no class: a model trained on them alone stays near chance (0.1)
    assert np.mean([r["mask_only_accuracy"] for r in rows if r["estimator"] == "random"]) < 0.25
    by = {(r["estimator"], r["seed"]): r for r in rows}
    for est in ("smoothgrad_sq", "vargrad", "sobel"):
        for test, field in (("mask_only_minus_random", "mask_only_accuracy"), ("follows_ranking_model", "retrained_leak")):
            e = doc["values"][f"fashion_mnist/{test}/{est}"]
            want = [by[(est, s)][field] - by[("random", s)][field] for s in sorted(SEEDS)]
            assert np.allclose(e["units"], want, atol=1e-5) and e["unit_ids"] == sorted(SEEDS)
            assert e["kind"] == "greater" and e["reference"] == 0 and e["tol"] == 0.02
            assert e["interval"]["method"] == "t" and "paper" not in e
