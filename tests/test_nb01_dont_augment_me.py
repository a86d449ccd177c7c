"""The 01_dont_augment_me notebook in the smoke profile: what it saved, its intervals and verdicts, its figures; and
the committed standard run's draw, controls and verdicts."""

import numpy as np
import pytest

from _checks import check_comparisons
from xaikit.results import NOT_GRADED
from xaikit import claims, data, results, stats

NB = "01_dont_augment_me"
METHODS = ["Saliency", "Integrated Gradients", "Guided Backprop", "Guided Grad-CAM", "GradientSHAP", "Deconvolution"]
STOCHASTIC = [m for m in METHODS if m != "Integrated Gradients"]
AUGS = ["rotate_-30", "rotate_-15", "rotate_15", "rotate_30", "freaky_details", "normalize_local", "boost_chroma",
        "mighty_details", "sharpen"]
PAPER = {"Saliency": (0.743, 0.709, 0.764), "Integrated Gradients": (0.823, 0.741, 0.873),
         "Guided Backprop": (0.820, 0.810, 0.826), "Guided Grad-CAM": (0.953, 0.954, 0.952),
         "GradientSHAP": (0.684, 0.696, 0.677), "Deconvolution": (0.543, 0.386, 0.642)}
RANGES = ["pooled_max", "image_max", "pair_max", "pooled_p99"]


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


def test_the_premise_about_predictions_is_the_share_of_dropped_pairs(values):
    kept = values["kept_pairs/efficientnet_lite0"]["value"]
    e = values["premise/moved_fraction"]
    assert e["kind"] == "less" and e["reference"] == 0.5 and e["n"] == 18
    assert e["value"] == pytest.approx(kept["dropped"] / 18)
    assert sorted(set(e["units"])) <= [0.0, 1.0] and len(set(e["clusters"])) == 2
    flips = values["top1_changed/efficientnet_lite0"]
    assert np.shape(flips["value"]) == (2, 9) and flips["count"] == int(np.sum(flips["value"]))


def test_every_paper_value_carries_interval_n_verdict_and_reason(values):
    compared = {k: e for k, e in values.items() if "paper" in e or "verdict" in e}
    # means, rank agreements (3 + 3 data ranges), Fig. 3 pair, 12 method differences, noise shares, premise
    assert len(compared) >= 6 + 3 + 3 + 1 + 12 + 5 + 1
    for name, e in compared.items():
        assert e["verdict"] in claims.STATUSES + (NOT_GRADED,) and e["reason"], name
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
            # Deconvolution's map does not depend on the input on EfficientNet-Lite0: refused as a test
            assert e["verdict"] == ("refused" if m == "Deconvolution" else "not comparable"), key
            assert e["paper"] == pytest.approx(PAPER[m][col])
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
    for part in ["overall", "rotations", "filters"] + [f"overall_{r}" for r in RANGES[1:]]:
        key = f"rank_agreement/{part}"
        if key not in values:
            continue
        e = values[key]
        assert e["kind"] == "greater" and e["reference"] == 0
        assert e["exact"] is True and 1 / 720 - 1e-9 <= e["p_exact"] <= 1  # 6 methods: 720 orders
        assert e["interval"]["p_value"] == pytest.approx(e["p_exact"])
        assert -1 <= e["ci"][0] <= e["ci"][1] <= 1 and -1 <= e["value"] <= 1
        assert e["methods"] == METHODS and len(e["units"]) == e["n"]
    assert "rank_agreement/overall" in values
    for r in RANGES[1:]:  # the data_range sensitivity: every alternative ranked too
        assert f"rank_agreement/overall_{r}" in values
        for m in METHODS:
            assert -1 <= values[f"ssim_mean_range/{r}/{m}"]["value"] <= 1


def test_differences_between_methods_and_rotations_vs_filters(values):
    diffs = [k for k in values if k.startswith("difference/")]
    assert len(diffs) == 5 + 3 + 4  # top vs the five others; GradientSHAP and Deconvolution at the bottom
    for k in diffs:
        a, b = k[len("difference/"):].split(" - ")
        e = values[k]
        assert e["kind"] == "greater" and e["paper"] == pytest.approx(PAPER[a][0] - PAPER[b][0], abs=1e-3)
        ma, mb = values[f"ssim_mean/{a}"]["value"], values[f"ssim_mean/{b}"]["value"]
        assert e["value"] == pytest.approx(ma - mb, abs=1e-5)  # same pairs: mean difference = difference of means
    for m in METHODS:
        key = f"rotations_minus_filters/{m}"
        if key in values:  # only where some image kept both a rotation and a filter pair
            e = values[key]
            gap = PAPER[m][1] - PAPER[m][2]
            if m == "Guided Grad-CAM":
                assert e["kind"] == "equal" and e["tol"] == 0.02 and e["reference"] == pytest.approx(gap)
            else:
                assert e["kind"] == ("less" if gap < 0 else "greater") and e["reference"] == 0


def test_controls_noise_floor_and_interpolation(values):
    for m in STOCHASTIC:
        f = values[f"noise_floor/{m}"]
        assert f["n"] == 2 and len(f["units"]) == 2 and all(-1 <= u <= 1 for u in f["units"])
        if f"noise_share/{m}" not in values:  # only a method whose re-run changes its map has a share
            assert all(u == 1 for u in f["units"]), m
            continue
        e = values[f"noise_share/{m}"]
        assert e["kind"] == "less" and e["reference"] == 0.5 and e["stat"] == "loss_share"
        units = np.array(e["units"])
        assert units.shape == (values[f"ssim_mean/{m}"]["n"], 2)
        # column 1 is the pair's SSIM loss, column 0 its image's noise-floor loss
        assert units[:, 1] == pytest.approx(1 - np.array(values[f"ssim_mean/{m}"]["units"]), abs=1e-5)
        assert e["value"] == pytest.approx(units[:, 0].mean() / units[:, 1].mean(), rel=1e-4)
    assert "noise_floor/Integrated Gradients" not in values  # deterministic: nothing to re-run
    # Deconvolution on EfficientNet-Lite0 (ReLU6, no max-pool, no squeeze-excitation) ignores its input: the noise
    # tunnel's noise changes nothing, so its re-run is identical
    assert values["noise_floor/Deconvolution"]["units"] == [1.0, 1.0]
    for m in METHODS:
        if f"interpolation_share/{m}" in values:  # only where a rotation pair was kept
            e = values[f"interpolation_share/{m}"]
            assert e["kind"] == "less" and e["reference"] == 0.5 and np.shape(e["units"])[1] == 2
            assert values[f"interpolation_floor/{m}"]["value"] <= 1


def test_forward_passes_match_the_batched_design(values):
    # smoke: 2 images x 10 variants; predictions (10 padded to 12) + saliency 2 + IG 3 + GBP 2 + Guided Grad-CAM
    # 2 x 2 + GradSHAP 2 x 1 + deconvolution 2; the noise floor re-runs the five stochastic methods on each original
    fp = values["forward_passes/efficientnet_lite0"]["value"]
    assert fp["per_variant"] == {"Saliency": 2, "Integrated Gradients": 3, "Guided Backprop": 2,
                                 "Guided Grad-CAM": 4, "GradientSHAP": 2, "Deconvolution": 2}
    assert fp["predictions"] == 2 * 12 and fp["maps"] == 2 * 10 * 15 and fp["noise_floor"] == 2 * 12
    assert fp["images_forwarded"] == 2 * (12 + 10 * 15 + 12)


def test_figures_written(run_smoke, smoke_path, values):
    run_smoke(NB)
    figs = smoke_path(NB) / "figures" / NB / "smoke"
    expected = ["fig1_augmentations.png", "fig2_ssim.png", "fig2a_prediction_change.png",
                "fig2b_ssim_per_augmentation.png", "fig2d_controls.png", "fig2e_data_range.png", "fig3_pair.png",
                "fig4_filters.png", "fig5_rotations.png"]
    if any(k.startswith("rotations_minus_filters/") for k in values):
        expected.append("fig2c_rotations_minus_filters.png")
    for f in expected:
        assert (figs / f).stat().st_size > 10_000, f


# ------------------------------------------------------------------ the committed standard run

@pytest.fixture(scope="module")
def standard():
    try:
        return results.load(NB, "standard")["values"]
    except FileNotFoundError:
        pytest.skip("no standard run committed")


def test_standard_run_draw_and_verdicts(standard):
    names = standard["draw"]["value"]
    assert len(names) >= 40 and names == data.load_imagenet_sample(len(names), seed=0, size=8).names
    compared = check_comparisons(standard)
    kept = standard["kept_pairs/efficientnet_lite0"]["value"]
    assert kept["kept"] + kept["dropped"] == 9 * len(names)
    for m in METHODS:
        e = standard[f"ssim_mean/{m}"]
        assert e["n"] == kept["kept"] and e["interval"]["n_clusters"] >= 10
        assert e["verdict"] == ("refused" if m == "Deconvolution" else "not comparable"), m
    # with at least ten images per interval, every graded claim can be decided by the rule (not by the count)
    for k, e in compared.items():
        assert "decides nothing" not in e["reason"], k


def test_standard_run_controls_and_data_range(standard):
    for m in STOCHASTIC:
        f = standard[f"noise_floor/{m}"]
        assert f["n"] == len(standard["draw"]["value"]) and f["ci"][0] <= f["value"] <= f["ci"][1] <= 1
        if m == "Deconvolution":  # input-independent on this model: the re-run is the same map
            assert f["value"] == 1 and f"noise_share/{m}" not in standard
        else:
            assert f["value"] < 1 and standard[f"noise_share/{m}"]["value"] > 0
    for m in METHODS:
        # the pooled maximum is the widest range, so it gives the highest SSIM of the four choices
        pooled = standard[f"ssim_mean/{m}"]["value"]
        for r in ("image_max", "pair_max"):
            assert standard[f"ssim_mean_range/{r}/{m}"]["value"] <= pooled + 1e-9, (m, r)
        assert 0 <= standard[f"interpolation_floor/{m}"]["value"] <= 1
    assert standard["forward_passes/efficientnet_lite0"]["value"]["per_variant"]["Guided Grad-CAM"] == 6
