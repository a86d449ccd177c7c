"""00_tour in the smoke profile: it runs, and what it saved is consistent; the committed standard run's accuracy
comparison and draws."""
import json

from _checks import check_comparisons
from xaikit import data, results

NB = "00_tour"


def test_tour_saves_accuracy_and_forward_counts(run_smoke, smoke_path):
    doc = run_smoke(NB)
    v = doc["values"]
    acc = v["top1_accuracy"]
    assert 0.0 <= acc["value"] <= 1.0 and acc["n_images"] == 8 == acc["n"] == len(acc["units"])
    assert acc["value"] == sum(acc["units"]) / 8
    assert "offline ImageNet" in acc["source"] and "efficientnet_lite0" in acc["model"]
    assert acc["paper"] == 0.886 and acc["kind"] == "equal" and acc["tol"] == 0.03
    check_comparisons(v)
    # the accuracy forward pass is batched: 8 images in one call
    assert acc["forward"] == {"forward_calls": 1, "images_forwarded": 8}
    fwd = v["forward_images_per_map"]["value"]
    from xaikit.attribution import METHODS
    assert set(fwd) == set(METHODS)
    assert fwd["gradient"] == 1 and fwd["sobel"] == 0 and fwd["random"] == 0
    assert fwd["integrated_gradients"] == 4  # one per step (smoke: 4 steps)
    root = smoke_path(NB)
    assert (root / "figures" / NB / "smoke" / "all_methods.png").stat().st_size > 10_000
    timings = json.loads((root / "results" / "smoke" / f"{NB}.timings.json").read_text())
    assert set(k for k in timings["seconds"] if k.startswith("attribute_")) == {f"attribute_{m}_per_image"
                                                                                  for m in METHODS}


def test_tour_draws_are_saved_and_seeded(run_smoke):
    v = run_smoke(NB)["values"]
    draw = v["draw"]["value"]
    assert len(draw) == 8 == len(set(draw)) and acc_ids(v) == draw
    assert draw == data.load_imagenet_sample(8, seed=0).names
    assert v["draw.examples"]["value"] == draw                  # smoke: all 8 loaded images are shown
    assert len(v["draw.attribution"]["value"]) == 4 and set(v["draw.attribution"]["value"]) <= set(draw)


def acc_ids(v):
    return v["top1_accuracy"]["unit_ids"]


def test_standard_run_accuracy_and_draws():
    v = results.load(NB)["values"]
    acc = v["top1_accuracy"]
    assert acc["n"] == 1000 and len(acc["units"]) == 1000 and 0.85 < acc["value"] < 0.92
    check_comparisons(v)
    ex, at = v["draw.examples"]["value"], v["draw.attribution"]["value"]
    assert len(ex) == 8 and len(at) == 4 and set(at) <= set(ex)
    names = data.load_imagenet_sample(8, seed=0).names
    assert ex == names and ex != sorted(acc["unit_ids"])[:8]    # a seeded draw, not the first files
