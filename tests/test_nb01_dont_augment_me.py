"""The 01_dont_augment_me notebook in the smoke profile: what it saved, its intervals and verdicts, its figures."""

import pytest

from _checks import check_comparisons
from xaikit import data, stats

NB = "01_dont_augment_me"
METHODS = ["Saliency", "Integrated Gradients", "Guided Backprop", "Guided Grad-CAM", "GradientSHAP"]
AUGS = ["rotate_-30", "rotate_-15", "rotate_15", "rotate_30", "freaky_details", "normalize_local", "boost_chroma",
        "mighty_details", "sharpen"]
PAPER = {"Saliency": (0.743, 0.709, 0.764), "Integrated Gradients": (0.823, 0.741, 0.873),
         "Guided Backprop": (0.820, 0.810, 0.826), "Guided Grad-CAM": (0.953, 0.954, 0.952),
         "GradientSHAP": (0.684, 0.696, 0.677)}


@pytest.fixture(scope="module")
def values(run_smoke):
    return run_smoke(NB)["values"]


def test_the_draw_is_random_across_classes_and_recorded(values):
    draw = values["draw"]
    names = draw["value"]
    assert names == data.load_imagenet_sample(2, seed=0, size=8).names  # the seeded draw, not the first files
    assert len(set(n.split("_")[0] for n in names)) == len(names) == draw["n"] == 2


def test_every_method_is_scored_on_the_same_kept_pairs(values):
    kept = values["kept_pairs/efficientnet_lite0"]["value"]
    assert kept["kept"] + kept["dropped"] == 2 * 9  # two images, nine augmentations, self-pair excluded
    assert sorted(kept["per_augmentation"]) == sorted(AUGS)
    assert sum(v["kept"] for v in kept["per_augmentation"].values()) == kept["kept"]
    assert {values[f"n_pairs/{m}"]["value"] for m in METHODS} == {kept["kept"]}
    # the filter itself: kept exactly where the predicted-class probability moved by < 0.05
    moved = values["prob_change/efficientnet_lite0"]["value"]
    assert sum(abs(d) < 0.05 for row in moved for d in row) == kept["kept"]
    # the units behind every method's mean are those pairs, in the same order
    ids = {tuple(values[f"ssim_mean/{m}"]["unit_ids"]) for m in METHODS}
    assert len(ids) == 1 and len(next(iter(ids))) == kept["kept"]


def test_every_paper_value_carries_interval_n_verdict_and_reason(values):
    compared = {k: e for k, e in values.items() if "paper" in e or "verdict" in e}
    assert len(compared) >= 5 + 3 + 1 + 7  # means, rank agreements, Fig. 3 pair, method differences
    for name, e in compared.items():
        assert e["verdict"] in stats.VERDICTS and e["reason"], name
        assert isinstance(e["n"], int) and e["n"] >= 1, name
        lo, hi = e["ci"]
        assert lo <= e["value"] <= hi or e["interval"]["method"] == "percentile", name
    check_comparisons(compared)  # the saved verdict follows from the saved interval by the one rule


def test_absolute_ssim_is_not_comparable_and_clustered_by_image(values):
    draw = set(values["draw"]["value"])
    for m in METHODS:
        for key, col in ((f"ssim_mean/{m}", 0), (f"ssim_rotations/{m}", 1), (f"ssim_filters/{m}", 2)):
            if key not in values:  # no pair of that kind kept
                continue
            e = values[key]
            assert e["verdict"] == "not comparable" and e["paper"] == pytest.approx(PAPER[m][col])
            assert e["interval"]["unit"] == "pair" and len(e["units"]) == len(e["clusters"]) == e["n"]
            assert set(e["clusters"]) <= draw
            assert e["interval"]["n_clusters"] == len(set(e["clusters"]))
            assert all(-1 <= u <= 1 for u in e["units"])
            assert e["value"] == pytest.approx(sum(e["units"]) / len(e["units"]), abs=1e-5)  # saved at 6 decimals
            # the interval resamples images: recomputing it from the saved units and clusters gives it back
            ci = stats.bootstrap(e["units"], clusters=e["clusters"], seed=0)
            assert [ci.low, ci.high] == pytest.approx(e["ci"], abs=1e-5)
        assert 0 <= values[f"ssim_std/{m}"]["value"] <= 2
    lo, hi = values["ssim_range"]["value"]
    assert lo == pytest.approx(min(values[f"ssim_mean/{m}"]["value"] for m in METHODS))
    assert hi == pytest.approx(max(values[f"ssim_mean/{m}"]["value"] for m in METHODS))
    assert values["fig3_pair_ssim"]["verdict"] == "not comparable" and -1 <= values["fig3_pair_ssim"]["value"] <= 1


def test_per_augmentation_means_carry_intervals(values):
    keys = [k for k in values if k.startswith("ssim_per_augmentation/")]
    assert keys
    for k in keys:
        m, a = k.split("/")[1:]
        assert m in METHODS and a in AUGS
        e = values[k]
        assert e["ci"][0] <= e["value"] <= e["ci"][1] and e["n"] == len(e["units"]) >= 1


def test_ranking_against_the_paper_uses_the_exact_permutation_test(values):
    for part in ("overall", "overall_per_image_range", "rotations", "filters"):
        key = f"rank_agreement/{part}"
        if key not in values:
            continue
        e = values[key]
        assert e["kind"] == "greater" and e["reference"] == 0
        assert e["exact"] is True and 1 / 120 - 1e-6 <= e["p_exact"] <= 1  # 5 methods: 120 orders
        assert -1 <= e["ci"][0] <= e["ci"][1] <= 1 and -1 <= e["value"] <= 1
        assert e["methods"] == METHODS and len(e["units"]) == e["n"]
    assert "rank_agreement/overall" in values


def test_differences_between_methods_and_rotations_vs_filters(values):
    for m in METHODS:
        if m != "Guided Grad-CAM":
            e = values[f"difference/Guided Grad-CAM - {m}"]
            assert e["kind"] == "greater" and e["paper"] == pytest.approx(PAPER["Guided Grad-CAM"][0] - PAPER[m][0], abs=1e-9)
            a, b = values["ssim_mean/Guided Grad-CAM"]["value"], values[f"ssim_mean/{m}"]["value"]
            assert e["value"] == pytest.approx(a - b, abs=1e-5)  # same pairs: the mean difference is the difference of means
        key = f"rotations_minus_filters/{m}"
        if key in values:  # only where some image kept both a rotation and a filter pair
            e = values[key]
            gap = PAPER[m][1] - PAPER[m][2]
            if m == "Guided Grad-CAM":
                assert e["kind"] == "equal" and e["tol"] == 0.02 and e["reference"] == pytest.approx(gap)
            else:
                assert e["kind"] == ("less" if gap < 0 else "greater") and e["reference"] == 0


def test_forward_passes_match_the_batched_design(values):
    # smoke: 2 images x 10 variants; predictions + saliency 2 + IG 3 + GBP 2 + Guided Grad-CAM 2 x 2 + GradSHAP 2 x 1
    fp = values["forward_passes/efficientnet_lite0"]["value"]
    assert fp["images_forwarded"] == 2 * 10 * (1 + 2 + 3 + 2 + 4 + 2)


def test_figures_written(run_smoke, smoke_path, values):
    run_smoke(NB)
    figs = smoke_path(NB) / "figures" / NB / "smoke"
    expected = ["fig1_augmentations.png", "fig2_ssim.png", "fig2b_ssim_per_augmentation.png", "fig3_pair.png",
                "fig4_filters.png", "fig5_rotations.png"]
    if any(k.startswith("rotations_minus_filters/") for k in values):
        expected.append("fig2c_rotations_minus_filters.png")
    for f in expected:
        assert (figs / f).stat().st_size > 10_000, f
