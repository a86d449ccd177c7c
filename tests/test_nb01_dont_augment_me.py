"""The 01_dont_augment_me notebook in the smoke profile: what it saved, its figures, and same seed -> same file."""

import pytest


NB = "01_dont_augment_me"
METHODS = ["Saliency", "Integrated Gradients", "Guided Backprop", "Guided Grad-CAM", "GradientSHAP"]
AUGS = ["rotate_-30", "rotate_-15", "rotate_15", "rotate_30", "freaky_details", "normalize_local", "boost_chroma",
        "mighty_details", "sharpen"]


@pytest.fixture(scope="module")
def values(run_smoke):
    return run_smoke(NB)["values"]


def test_every_method_is_scored_on_the_same_kept_pairs(values):
    kept = values["kept_pairs/efficientnet_lite0"]["value"]
    assert kept["kept"] + kept["dropped"] == 2 * 9  # two images, nine augmentations, self-pair excluded
    assert sorted(kept["per_augmentation"]) == sorted(AUGS)
    assert sum(v["kept"] for v in kept["per_augmentation"].values()) == kept["kept"]
    assert {values[f"n_pairs/{m}"]["value"] for m in METHODS} == {kept["kept"]}
    # the filter itself: kept exactly where the predicted-class probability moved by < 0.05
    moved = values["prob_change/efficientnet_lite0"]["value"]
    assert sum(abs(d) < 0.05 for row in moved for d in row) == kept["kept"]


def test_ssim_values_lie_in_range_and_paper_values_sit_beside(values):
    for m in METHODS:
        mean, std = values[f"ssim_mean/{m}"]["value"], values[f"ssim_std/{m}"]["value"]
        assert -1 <= mean <= 1 and 0 <= std <= 2
        assert values[f"ssim_mean/{m}"]["paper"] == pytest.approx(
            {"Saliency": 0.743, "Integrated Gradients": 0.823, "Guided Backprop": 0.820, "Guided Grad-CAM": 0.953,
             "GradientSHAP": 0.684}[m])
        assert "source" in values[f"ssim_mean/{m}"]
        per_aug = values[f"ssim_per_augmentation/{m}"]["value"]
        assert all(v is None or -1 <= v <= 1 for v in per_aug.values())
    lo, hi = values["ssim_range"]["value"]
    assert lo == min(values[f"ssim_mean/{m}"]["value"] for m in METHODS)
    assert hi == max(values[f"ssim_mean/{m}"]["value"] for m in METHODS)
    assert values["ssim_range"]["paper"] == [0.68, 0.95]
    assert -1 <= values["fig3_pair_ssim"]["value"] <= 1


def test_forward_passes_match_the_batched_design(values):
    # smoke: 2 images x 10 variants; predictions + saliency 2 + IG 3 + GBP 2 + Guided Grad-CAM 2 x 2 + GradSHAP 2 x 1
    fp = values["forward_passes/efficientnet_lite0"]["value"]
    assert fp["images_forwarded"] == 2 * 10 * (1 + 2 + 3 + 2 + 4 + 2)


def test_figures_written(run_smoke, smoke_path):
    run_smoke(NB)
    figs = smoke_path(NB) / "figures" / NB / "smoke"
    for f in ("fig1_augmentations.png", "fig2_ssim.png", "fig2b_ssim_per_augmentation.png", "fig3_pair.png",
              "fig4_filters.png", "fig5_rotations.png"):
        assert (figs / f).stat().st_size > 10_000, f
