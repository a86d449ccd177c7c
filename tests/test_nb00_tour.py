"""00_tour in the smoke profile: it runs, and what it saved is consistent; the committed standard run's accuracy
comparison, draws, method table, sign checks, conservation checks and the misclassified example."""
import json

import numpy as np
import pytest

from _checks import check_comparisons
from xaikit import data, results
from xaikit.attribution import METHODS

NB = "00_tour"
FAMILIES = {"gradient", "path", "CAM", "propagation", "noise-averaged", "model-free controls"}
UNSIGNED = {"saliency", "smoothgrad_sq", "vargrad", "grad_cam", "sobel", "random"}   # >= 0 by construction
NON_NEGATIVE_HERE = {"deep_taylor", "xrai"}                                           # drawn sequential too
FIGURES = ["predictions.png", "misclassified.png"] + [f"family_{f.replace(' ', '_')}.png" for f in FAMILIES]


def check_methods(v):
    """Every method of attribution.METHODS is in the table, with a family, the kind of map and a notebook that
    uses it; maps drawn with a sequential colour map never go below 0 and the signed ones do (else the colour
    maps would mislead); Deconvolution's map is the same for every image, random maps share nothing."""
    table = v["methods"]["value"]
    assert set(table) == set(METHODS)
    assert {e["family"] for e in table.values()} == FAMILIES
    assert {m for m, e in table.items() if e["map"] == "unsigned"} == UNSIGNED
    assert {m for m, e in table.items() if e["map"] not in ("signed", "unsigned")} == NON_NEGATIVE_HERE
    assert all(e["used_in"] for e in table.values())
    neg = v["negative_fraction"]["value"]
    assert set(neg) == set(METHODS)
    assert all(neg[m] == 0 for m in UNSIGNED | NON_NEGATIVE_HERE)
    signed = set(METHODS) - UNSIGNED - NON_NEGATIVE_HERE
    assert all(neg[m] > 0.3 for m in signed), {m: neg[m] for m in signed}
    same = v["similarity_across_images"]["value"]
    assert set(same) == set(METHODS)
    assert same["deconvolution"] > 0.9 and abs(same["random"]) < 0.05


def check_forward(fwd, steps, xrai_steps, samples):
    assert set(fwd) == set(METHODS)
    assert fwd["gradient"] == fwd["saliency"] == fwd["grad_cam"] == 1
    assert fwd["sobel"] == 0 and fwd["random"] == 0
    assert fwd["integrated_gradients"] == steps              # one per step, black baseline
    assert fwd["xrai"] == 2 * xrai_steps                      # IG with a black and a white baseline
    assert fwd["smoothgrad"] == fwd["smoothgrad_sq"] == fwd["vargrad"] == samples


def check_misclassified(v):
    w = v["misclassified"]["value"]
    assert w["predicted"] != w["true"] and w["p_predicted"] > w["p_true"] and w["rank_true"] >= 2
    assert w["image"] in v["draw"]["value"]
    assert set(w["spearman_predicted_vs_true"]) == {"integrated_gradients", "grad_cam", "xrai"}
    assert all(-1 <= r <= 1 for r in w["spearman_predicted_vs_true"].values())
    return w


def test_tour_saves_accuracy_and_forward_counts(run_smoke, smoke_path):
    doc = run_smoke(NB)
    v = doc["values"]
    acc = v["top1_accuracy"]
    assert 0.0 <= acc["value"] <= 1.0 and acc["n_images"] == 8 == acc["n"] == len(acc["units"])
    assert acc["value"] == sum(acc["units"]) / 8
    assert "offline ImageNet" in acc["source"] and "efficientnet_lite0" in acc["model"]
    assert acc["paper"] == 0.886 and acc["kind"] == "equal" and acc["tol"] == 0.03
    assert acc["forward_images"] == 8                          # every image once, no padding kept in the count
    check_comparisons(v)
    assert list(v["forward_images_per_map"]["value"]) and v["forward_images_per_map"]["n_images"] == 1
    check_forward(v["forward_images_per_map"]["value"], steps=4, xrai_steps=4, samples=2)
    check_methods(v)
    check_misclassified(v)                                     # seed 0 draws brassiere, predicted maillot
    root = smoke_path(NB)
    for f in FIGURES:
        assert (root / "figures" / NB / "smoke" / f).stat().st_size > 10_000, f
    timings = json.loads((root / "results" / "smoke" / f"{NB}.timings.json").read_text())
    assert set(k for k in timings["seconds"] if k.startswith("attribute_")) == {f"attribute_{m}_per_image"
                                                                                  for m in METHODS}


def test_tour_draws_are_saved_and_seeded(run_smoke):
    v = run_smoke(NB)["values"]
    draw = v["draw"]["value"]
    assert len(draw) == 8 == len(set(draw)) and v["top1_accuracy"]["unit_ids"] == draw
    assert draw == data.load_imagenet_sample(8, seed=0).names
    assert v["draw.examples"]["value"] == draw                  # smoke: all 8 loaded images are shown
    assert len(v["draw.attribution"]["value"]) == 4 and set(v["draw.attribution"]["value"]) <= set(draw)


def test_standard_run_accuracy_and_draws():
    v = results.load(NB)["values"]
    acc = v["top1_accuracy"]
    assert acc["n"] == 1000 and len(acc["units"]) == 1000 and 0.85 < acc["value"] < 0.92
    assert acc["forward_images"] == 1000
    check_comparisons(v)
    assert [k for k, e in v.items() if "paper" in e] == ["top1_accuracy"]   # the tour's one comparison
    ex, at = v["draw.examples"]["value"], v["draw.attribution"]["value"]
    assert len(ex) == 8 and len(at) == 4 and set(at) <= set(ex)
    names = data.load_imagenet_sample(8, seed=0).names
    assert ex == names and ex != sorted(acc["unit_ids"])[:8]    # a seeded draw, not the first files


def test_standard_run_methods_and_costs():
    v = results.load(NB)["values"]
    check_methods(v)
    check_forward(v["forward_images_per_map"]["value"], steps=64, xrai_steps=32, samples=16)
    assert v["forward_images_per_map"]["params"]["integrated_gradients"] == {"baselines": "black", "n_steps": 64,
                                                                             "internal_batch_size": 32}


def test_standard_run_conservation():
    """IG adds up to logit(image) - logit(black) (completeness); LRP on EfficientNet-Lite0 does not conserve the
    logit, which is why the notebook (and 04) call its maps not meaningful there. If a canonizer ever makes LRP
    conserve on this model, this test fails and the notebook's text must change with it."""
    v = results.load(NB)["values"]
    ig = v["ig_completeness"]
    assert ig["steps"] == [16, 32, 64] and set(ig["value"]["ratio"]) == {"16", "32", "64"}
    ratio = np.array(ig["value"]["ratio"]["64"])
    assert len(ratio) == 4 and np.all(np.abs(ratio - 1) < 0.1)          # 64 steps: within 10% on every image
    assert max(abs(np.array(ig["value"]["ratio"]["32"]) - 1)) > 0.3     # 32 steps are not enough here (the text)
    lrp = v["relevance_over_logit"]["value"]
    assert set(lrp) == {"lrp_epsilon", "deep_taylor"}
    assert max(abs(r) for r in lrp["lrp_epsilon"]) < 0.1


def test_standard_run_misclassified_example():
    v = results.load(NB)["values"]
    w = check_misclassified(v)
    assert w["image"] in v["draw.attribution"]["value"]         # seed 0: the wrong prediction is among the four
    # IG's completeness for both classes (the difference of the two maps is what the text discusses)
    for c in ("predicted", "true"):
        assert w["ig_sum"][c] == pytest.approx(w["logit_minus_black"][c], rel=0.1)
    assert w["logit_minus_black"]["predicted"] > w["logit_minus_black"]["true"]
