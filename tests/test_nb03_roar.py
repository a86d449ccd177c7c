"""Notebook 03 (ROAR / KAR) in profile smoke: the values it saved, and the same seed giving the same file."""

import pytest


NB = "03_roar_remove_and_retrain"


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


def test_the_grid_is_complete(doc):
    rows = v(doc, "fashion_mnist/retrained")
    ests = {"gradient", "integrated_gradients", "guided_backprop", "smoothgrad_sq", "vargrad", "random", "sobel"}
    fracs = {0.1, 0.5, 0.9}
    grid = {(r["estimator"], r["mode"], r["fraction"], r["seed"]) for r in rows}
    assert grid == {(e, m, f, 0) for e in ests for m in ("roar", "kar") for f in fracs} | {("none", "roar", 0.0, 0)}
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
    # accuracies are counts over the 150 test images
    assert all(abs(r["accuracy"] * 150 - round(r["accuracy"] * 150)) < 1e-3 for r in rows)
    nr = v(doc, "fashion_mnist/not_retrained")
    assert {(r["estimator"], r["mode"], r["fraction"]) for r in nr} == {(e, m, f) for e in ests
                                                                      for m in ("roar", "kar") for f in fracs}


def test_unmodified_retraining_equals_the_base_model(doc):
    # estimator 'none' with the notebook's seed is the base model's training: same data, settings and seed
    none = [r for r in v(doc, "fashion_mnist/retrained") if r["estimator"] == "none" and r["seed"] == 0]
    assert none[0]["accuracy"] == v(doc, "fashion_mnist/base_accuracy")
    assert v(doc, "fashion_mnist/base_accuracy") > 0.3      # learnt something (chance: 0.1)


def test_costs_and_claims_recorded(doc):
    cost = v(doc, "fashion_mnist/attribution_images_forwarded")
    n = 300 + 150
    assert cost["gradient"] == n and cost["guided_backprop"] == n
    assert cost["integrated_gradients"] == 4 * n                   # smoke: 4 IG steps
    assert cost["smoothgrad_sq"] == cost["vargrad"] == 4 * n        # smoke: 4 noisy samples
    assert cost["random"] == cost["sobel"] == 0
    assert v(doc, "fashion_mnist/retraining_cost")["trainings"] == 43
    for est in ("gradient", "integrated_gradients", "guided_backprop", "smoothgrad_sq", "vargrad"):
        e = doc["values"][f"fashion_mnist/roar_vs_random/{est}"]
        assert e["paper"] in ("better than random", "no better than random") and "paper_where" in e
        assert e["value"]["n_fractions"] == 3


def test_figures_written(doc, smoke_path):
    d = smoke_path(NB) / "figures" / NB / "smoke"
    assert (d / "fig1_rankings_fashion_mnist.png").stat().st_size > 10_000
    assert (d / "fig2_roar_kar_curves.png").stat().st_size > 10_000
