"""Notebook 02 (Tomsett et al.): runs the smoke profile once and checks the values it saved."""

import pytest


NB = "02_sanity_checks_for_saliency_metrics"
METHODS = ["sensitivity", "gradient⊙input", "deep Taylor", "DeepSHAP", "edge detection"]


@pytest.fixture(scope="module")
def values(run_smoke):
    return run_smoke(NB)["values"]


def test_every_value_has_a_source(values):
    assert values, "no values saved"
    for name, e in values.items():
        assert e.get("source"), f"{name} has no data source"
    assert "CIFAR-10" in values["n_images"]["source"]


def test_model_and_accuracy_recorded(values):
    acc = values["test_accuracy"]
    # the committed 12-epoch model reaches 0.76 on all 10,000 images; smoke measures it on 500 of them
    assert acc["paper"] == 0.86 and 0.65 < acc["value"] <= 1.0
    assert values["best_val_accuracy"]["value"] > 0.7 and values["best_val_accuracy"]["epochs_run"] >= 2
    assert acc["params"]["n_train"] == 45_000 and acc["params"]["n_val"] == 5_000


def test_forward_passes_are_counted_exactly(values):
    for key in ("aopc_forward_passes", "faithfulness_forward_passes"):
        e = values[key]
        assert e["value"]["images_forwarded"] == e["expected_images"], key
        assert e["value"]["forward_calls"] < e["expected_images"] / 10  # batched, not one image at a time


def test_random_baseline_interval_and_zero_steps(values):
    for pert in ("mean", "random"):
        for stats in values[f"random_baseline.{pert}"]["value"].values():
            assert stats["lo"] <= stats["mean"] <= stats["hi"]
        for order in ("morf", "lerf"):
            curves = values[f"aopc_minus_random_curve.{pert}.{order}"]["value"]
            assert set(curves) == set(METHODS)
            assert all(c[0] == 0 for c in curves.values())  # zero pixels perturbed: no change


def test_table1_alpha_and_paper_values(values):
    cells = {k: e for k, e in values.items() if k.startswith("table1.alpha.")}
    assert len(cells) % 4 == 0 and len(cells) >= 8  # F and at least one AOPC row, four columns each
    for k, e in cells.items():
        v = e["value"]
        assert v["alpha"] <= 1 and v["lo"] <= v["hi"] and len(e["paper"]) == 3, k
    assert values["table1.alpha.F.mean.with_edge"]["paper"] == [0.18, 0.17, 0.20]


def test_table2_and_faithfulness_in_range(values):
    for k in ("F_vs_AOPC_MoRF", "F_vs_AOPC_LeRF", "AOPC_MoRF_vs_AOPC_LeRF", "AOPC_MoRF_random_vs_mean"):
        e = values[f"table2.{k}"]
        assert set(e["value"]) == set(METHODS) == set(e["paper"])
        assert all(r is None or -1 <= r <= 1 for r in e["value"].values())
    for pert in ("mean", "random"):
        for m, s in values[f"faithfulness.{pert}"]["value"].items():
            assert -1 <= s["mean"] <= 1 and -1 <= s["median"] <= 1, (pert, m)


def test_figures_written(run_smoke, smoke_path):
    run_smoke(NB)
    d = smoke_path(NB) / "figures" / NB / "smoke"
    for f in ("fig1_saliency_maps.png", "fig2a_aopc.png", "fig2b_faithfulness.png", "table1.md", "table2.md"):
        assert (d / f).is_file() and (d / f).stat().st_size > 0, f
