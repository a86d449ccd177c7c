"""00_tour in the smoke profile: it runs, and what it saved is consistent."""
import json

NB = "00_tour"


def test_tour_saves_accuracy_and_forward_counts(run_smoke, smoke_path):
    doc = run_smoke(NB)
    v = doc["values"]
    acc = v["top1_accuracy"]
    assert 0.0 <= acc["value"] <= 1.0 and acc["n_images"] == 8
    assert "offline ImageNet" in acc["source"] and "efficientnet_lite0" in acc["model"]
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
