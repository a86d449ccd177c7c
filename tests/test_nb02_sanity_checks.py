"""Notebook 02 (Tomsett et al.): runs the smoke profile once and checks the values it saved."""

import pytest

from _checks import registry_row

from xaikit.results import NOT_GRADED
from xaikit import claims, data, stats

NB = "02_sanity_checks_for_saliency_metrics"
METHODS = ["sensitivity", "gradient⊙input", "deep Taylor", "DeepSHAP", "edge detection"]


@pytest.fixture(scope="module")
def values(run_smoke):
    return run_smoke(NB)["values"]


def _compared(values):
    return {k: e for k, e in values.items() if "verdict" in e}


def test_every_value_has_a_source(values):
    assert values, "no values saved"
    for name, e in values.items():
        assert e.get("source"), f"{name} has no data source"
    assert "CIFAR-10" in values["n_images"]["source"]


def test_every_paper_value_carries_interval_and_verdict(values):
    comp = _compared(values)
    assert len(comp) >= 60
    for k, e in values.items():
        if "paper" in e:
            for key in ("verdict", "ci", "n", "reason", "claim", "kind", "interval"):
                assert key in e, (k, key)
            assert e["verdict"] in claims.STATUSES + (NOT_GRADED,), k
            lo, hi = e["ci"]
            assert lo <= hi and e["n"] >= 1, k
            assert e["interval"]["level"] == 0.95, k
            assert e["interval"]["method"] in ("bca", "percentile"), k
            # the kit's resample count for the notebook's own bootstraps; the smoke profile's are 1,000
            assert e["interval"]["n_resamples"] >= 1000, k
    # the model's accuracy and confidence against the paper's are controls of the setting, not the paper's claims
    for k in ("test_accuracy", "fraction_confidence_ge_0.99", "fraction_confidence_le_0.8"):
        assert comp[k]["registry"]["row"] == "control" and comp[k]["verdict"] in claims.STATUSES, k


def test_draw_is_saved_and_spread_over_classes(values):
    draw = values["draw"]["value"]
    n = values["n_images"]["value"]
    assert len(draw) == n == len(set(draw))
    # the same draw again, from whichever CIFAR-10 copy is on disk (the JPEG copy names files test/<class>/...,
    # torchvision's arrays test[i]): a stratified draw, distinct classes while n <= 10
    again = data.load_cifar10("test", n=n, seed=0)
    assert again.names == draw and all(name.startswith("test") for name in draw)
    assert len(set(again.labels.tolist())) == min(n, 10)
    assert len(values["draw_background"]["value"]) == values["n_images"]["params"]["n_background"]


def test_model_and_accuracy_recorded(values):
    acc = values["test_accuracy"]
    # the committed model (30 epochs, augmentation, one-cycle) reaches 0.847 on all 10,000 images; smoke: 500 of them
    assert acc["paper"] == 0.86 and 0.8 < acc["value"] <= 1.0 and acc["n"] == 500
    best = values["best_val_accuracy"]
    assert best["value"] > 0.84 and best["epochs_run"] == 30 == len(best["val_accuracy_per_epoch"])
    assert best["value"] == max(best["val_accuracy_per_epoch"])  # the best epoch's weights are the ones kept
    assert acc["params"]["n_train"] == 45_000 and acc["params"]["n_val"] == 5_000
    assert acc["params"]["augment"] == "flip_crop" and acc["params"]["lr_schedule"]["kind"] == "onecycle"
    # the confidence fractions are over every image the accuracy was measured on, not the metric images
    for k in ("fraction_confidence_ge_0.99", "fraction_confidence_le_0.8"):
        assert values[k]["n"] == acc["n"], k


def test_forward_passes_are_counted_exactly(values):
    for key in ("aopc_forward_passes", "faithfulness_forward_passes"):
        e = values[key]
        assert e["value"]["images_forwarded"] == e["expected_images"], key
        # batched, not one image at a time (a plan measured under load may pick the sweep's smallest batch, 4)
        assert e["value"]["forward_calls"] < e["expected_images"] / 3


def test_random_baseline_interval_and_zero_steps(values):
    for pert in ("mean", "random"):
        for s in values[f"random_baseline.{pert}"]["value"].values():
            assert s["lo"] <= s["mean"] <= s["hi"]
        for order in ("morf", "lerf"):
            curves = values[f"aopc_minus_random_curve.{pert}.{order}"]["value"]
            assert set(curves) == set(METHODS)
            assert all(c[0] == 0 for c in curves.values())  # zero pixels perturbed: no change


def test_table1_alpha_graded_against_0_65(values):
    cells = {k: e for k, e in values.items() if k.startswith("table1.alpha.")}
    assert len(cells) % 4 == 0 and len(cells) >= 12  # F, MoRF and LeRF rows, four columns each
    for k, e in cells.items():
        assert e["kind"] == "less" and e["reference"] == 0.65, k     # what the notebook measured against
        assert e["registry"]["kind"] == "value" and e["registry"]["paper_value"] == e["paper"], k   # graded
        assert e["value"] <= 1 and e["ci"][0] <= e["value"] <= e["ci"][1], k
        assert e["interval"]["method"] == "percentile" and e["n"] >= 2, k
        assert e["n_methods"] == (5 if "with_edge" in k else 4), k
        # the verdict is the registry's: the paper's cell value within its tolerance
        row = registry_row(k, e["claim_id"])
        assert e["verdict"] == claims.registry_fields(row, e, {"values": values})["verdict"], k
    assert values["table1.alpha.F.mean.with_edge"]["paper"] == 0.18
    assert values["table1.alpha.MoRF_L=20.mean.with_edge"]["paper"] == 0.29


def test_table1_directions_are_paired_differences(values):
    d = {k: e for k, e in values.items() if k.startswith("table1.direction.")}
    assert any(".random_lowers_alpha." in k for k in d) and any(".edge_raises_alpha." in k for k in d)
    assert any(".random_raises_LeRF_alpha." in k for k in d)
    for k, e in d.items():
        assert e["kind"] == "greater" and e["reference"] == 0 and e["verdict"] != "not comparable", k
    e = d["table1.direction.random_lowers_alpha.F.with_edge"]
    a, b = values["table1.alpha.F.mean.with_edge"]["value"], values["table1.alpha.F.random.with_edge"]["value"]
    assert e["value"] == pytest.approx(a - b, abs=1e-5) and e["paper"] == pytest.approx(0.08)


def test_aopc_claims(values):
    for pert in ("mean", "random"):
        e = values[f"aopc.lerf.{pert}.rank_agreement_with_paper"]
        assert 0 < e["p_exact"] <= 1 and e["exact"] and -1 <= e["value"] <= 1
        for m in ("gradient⊙input", "DeepSHAP"):
            for order in ("morf", "lerf"):
                assert values[f"aopc_minus_random.{order}.{pert}.{m}"]["kind"] == "greater"
    eq = values["aopc.morf.mean.sensitivity_minus_deep_Taylor"]
    assert eq["kind"] == "equal" and eq["tol"] == 0.01 and eq["reference"] == 0
    for order in ("morf", "lerf"):
        for pert in ("mean", "random"):
            assert sorted(values[f"ranking.{order}.{pert}"]["value"]) == sorted(METHODS)


def test_rankings_carry_paired_intervals(values):
    for order in ("morf", "lerf"):
        for pert in ("mean", "random"):
            steps = values[f"ranking_steps.{order}.{pert}"]["value"]
            ranked = [steps[0]["better"]] + [s["worse"] for s in steps]
            assert ranked == values[f"ranking.{order}.{pert}"]["value"]  # the same order as the point ranking
            for s, nxt in zip(steps, steps[1:]):
                assert s["worse"] == nxt["better"]
            for s in steps:
                lo, hi = s["ci"]
                # ranked by mean: each gap is >= 0; "separated" exactly when the interval excludes 0
                assert s["difference"] >= 0 and lo <= s["difference"] <= hi
                assert s["separated"] == (lo > 0 or hi < 0)


def test_inter_method_rho_has_intervals(values):
    cells = {k: e for k, e in values.items() if k.startswith("inter_method_rho.") and "ci" in e and "verdict" not in e}
    assert len(cells) % 4 == 0 and len(cells) >= 12
    for k, e in cells.items():
        lo, hi = e["ci"]
        assert -1 <= lo <= e["value"] <= hi <= 1, k
        if not k.startswith("inter_method_rho.F."):  # AOPC scores are never undefined: the same images either way
            assert e["value"] == pytest.approx(e["pairwise"], abs=1e-9), k


def test_table2_spread_claim_is_the_difference_of_ranges(values):
    e = values["table2.random_vs_mean_most_consistent_across_methods"]
    r = {k: [values[f"table2.{k}.{m}"]["value"] for m in METHODS]
         for k in ("AOPC_MoRF_vs_AOPC_LeRF", "AOPC_MoRF_random_vs_mean")}
    spread = {k: max(v) - min(v) for k, v in r.items()}
    assert e["value"] == pytest.approx(spread["AOPC_MoRF_vs_AOPC_LeRF"] - spread["AOPC_MoRF_random_vs_mean"], abs=1e-9)
    assert e["paper"] == pytest.approx(0.46) and e["kind"] == "greater"


def test_table2_and_faithfulness(values):
    for k, graded in (("F_vs_AOPC_MoRF", False), ("F_vs_AOPC_LeRF", True), ("AOPC_MoRF_vs_AOPC_LeRF", False),
                      ("AOPC_MoRF_random_vs_mean", True)):
        for m in METHODS:
            e = values[f"table2.{k}.{m}"]
            assert -1 <= e["value"] <= 1
            # every cell is graded against the paper's printed value (Table 2's levels, not a sign)
            assert e["registry"]["kind"] == "value" and e["verdict"] in claims.STATUSES + (NOT_GRADED,), (k, m)
    assert values["table2.F_vs_AOPC_MoRF.sensitivity"]["paper"] == 0.34
    for pert in ("mean", "random"):
        for m, s in values[f"faithfulness.{pert}"]["value"].items():
            assert -1 <= s["mean"] <= 1 and -1 <= s["median"] <= 1, (pert, m)
            e = values[f"faithfulness.{pert}.{m}.abs_mean_below_0.1"]
            assert e["value"] == pytest.approx(abs(s["mean"]), abs=1e-5) and e["reference"] == 0.1


def test_figures_written(run_smoke, smoke_path):
    run_smoke(NB)
    d = smoke_path(NB) / "figures" / NB / "smoke"
    for f in ("fig1_saliency_maps.png", "fig2a_aopc.png", "fig2b_faithfulness.png", "table1.md", "table2.md"):
        assert (d / f).is_file() and (d / f).stat().st_size > 0, f


def test_committed_standard_run_uses_the_kits_bootstrap():
    from xaikit import results
    try:
        doc = results.load(NB, "standard")
    except FileNotFoundError:
        pytest.skip("no standard run committed")
    v = doc["values"]
    assert v["n_images"]["value"] >= 250 and len(v["draw"]["value"]) == v["n_images"]["value"]
    assert v["n_images"]["params"]["n_orders"] >= 20 and v["n_images"]["params"]["n_boot"] >= 10_000
    # confidence fractions on all 10,000 test images
    assert v["fraction_confidence_ge_0.99"]["n"] == v["test_accuracy"]["n"] == 10_000
    assert v["test_accuracy"]["value"] > 0.84
    for k, e in results.comparisons(doc).items():
        assert e["interval"]["level"] == 0.95 and e["interval"]["n_resamples"] >= stats.N_RESAMPLES, k
