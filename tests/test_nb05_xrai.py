"""Notebook 05 (XRAI, PIC, Perturbation-epsilon) in profile smoke: the values it saved, its comparisons with the
paper (interval, n, verdict) under both PIC definitions, its figures; and the committed standard run's draw,
intervals and verdicts."""

import numpy as np
import pytest

from _checks import check_comparisons
from xaikit.results import NOT_GRADED
from xaikit import claims, pic, results

NB = "05_xrai_and_performance_information_curves"
METHODS = ["xrai_union", "xrai", "grad_cam", "ig_bw", "ig_4rand", "ig_black", "gradient", "gradient_x_input", "edges",
           "random"]
TABLE1 = [m for m in METHODS if m != "xrai"]        # Table 1's nine rows; its XRAI is the union gain
M = "efficientnet_lite0"
N_SMOKE = 3
N_STANDARD = 60


@pytest.fixture(scope="module")
def values(run_smoke):
    return run_smoke(NB)["values"]


def v(values, key):
    return values[key]["value"]


def _image_pic(p, thresholds):
    return pic.ImagePIC(p["label"], p["info_orig"], p["info_removed"], p["softmax_orig"], p["softmax_removed"],
                        p["correct_removed"], thresholds, {k: np.array(x) for k, x in p["info"].items()},
                        {k: np.array(x) for k, x in p["softmax"].items()},
                        {k: np.array(x, bool) for k, x in p["correct"].items()})


def test_draw_is_saved_and_seeded(values):
    draw = v(values, "draw")
    assert len(draw) == N_SMOKE == len(set(draw))
    assert all(n.endswith(".JPEG") for n in draw)
    assert "classes drawn with seed 0" in values["draw"]["source"]


def test_xrai_equals_pair_and_both_gains_give_sound_trajectories(values):
    assert v(values, "xrai.matches_pair_ranks") is True
    assert v(values, "xrai.max_heatmap_gap_vs_pair") < 1e-9
    assert v(values, "xrai.trajectory_monotone") is True
    assert v(values, "xrai.trajectory_covers_image") is True
    assert values["xrai.trajectory_monotone"]["params"]["gains"] == ["difference", "union"]
    assert all(n > 10 for n in v(values, "xrai.n_regions"))
    # with an empty mask both gains are the segment's mean: the same first region on every image
    assert v(values, "xrai.union_same_first_region") == [1] * N_SMOKE
    for f in (10, 20):
        assert all(0 < x <= 1 for x in v(values, f"xrai.union_vs_pair_iou_top{f}"))


def test_ig_completeness_is_recorded_per_image(values):
    for key in ("ig_bw", "ig_black"):
        e = values[f"{M}.ig_completeness.{key}"]
        assert len(e["value"]) == N_SMOKE == len(e["unit_ids"]) and all(g >= 0 for g in e["value"])
        gap = np.abs(np.array(e["attr_sum"]) - np.array(e["delta"])) / np.abs(e["delta"])
        np.testing.assert_allclose(gap, e["value"], rtol=1e-4, atol=1e-6)
        assert e["params"]["n_steps"] == 2
    sweep = v(values, f"{M}.ig_completeness_step_sweep")
    assert {r["steps"] for r in sweep} == {"2", "4", "PAIR 10"}
    assert all(r["max_rel_gap"] >= r["median_rel_gap"] >= 0 for r in sweep)


def test_information_level_of_the_unblurred_image_is_one(values):
    assert v(values, "information_level.original") == 1.0
    assert 0 < v(values, "information_level.fully_rebuilt") < 1
    assert 0 < v(values, "information_level.fully_blurred") < 1


def test_every_comparison_carries_interval_n_and_verdict(values):
    check_comparisons(values)


def test_table1_areas_are_not_comparable_and_rebuild_from_saved_points(values):
    draw = v(values, "draw")
    points = v(values, f"{M}.pic_points")
    thresholds = tuple(values[f"{M}.pic_points"]["params"]["thresholds"])
    assert len(points) == N_SMOKE and values[f"{M}.pic_points"]["unit_ids"] == draw
    for mode in ("", "blur."):
        for m in (METHODS if not mode else ["xrai_union", "random"]):
            for metric in ("sic", "aic"):
                n = v(values, f"{M}.{mode}{metric}_n_images.{m}")
                assert 0 <= n <= N_SMOKE
                key = f"{M}.{mode}{metric}_auc.{m}"
                if n == 0:
                    assert key not in values
                    continue
                e = values[key]
                assert 0 <= e["value"] <= 1 and len(e["per_image_area"]) == n == len(e["unit_ids"])
                if not mode:
                    assert e["verdict"] == "not comparable" and e["n"] == n
                    assert 0 <= v(values, f"{M}.{metric}_auc_mean_aggregation.{m}") <= 1
                    assert e["paper"] == {"resnet50_v2": pytest.approx(e["reference"]),
                                          "inception": pytest.approx(e["paper"]["inception"])}
    # both XRAI gains are compared with Table 1's XRAI row
    for m in ("xrai", "xrai_union"):
        assert values[f"{M}.text.sic_auc.{m}"]["paper"] == {"resnet50_v2": 0.749, "inception": 0.72}
    # the saved raw points rebuild each image's AIC curve and its saved area (PAIR's definition)
    for i, p in enumerate(points):
        curve = _image_pic(p, thresholds).aic("xrai_union")[0]
        if curve is not None:
            e = values[f"{M}.aic_auc.xrai_union"]
            j = e["unit_ids"].index(draw[i])
            assert pic.area(curve) == pytest.approx(e["per_image_area"][j], abs=1e-5)
    # per image: the original plus every distinct bokeh image (removed + at most 10 maps x 3 thresholds)
    n_cls = v(values, f"{M}.pic_images_classified")
    assert N_SMOKE * (2 + 3) <= n_cls <= N_SMOKE * (2 + 10 * 3)


def test_text_definition_rebuilds_from_saved_points(values):
    points = v(values, f"{M}.pic_points")
    thresholds = tuple(values[f"{M}.pic_points"]["params"]["thresholds"])
    rows = [_image_pic(p, thresholds) for p in points]
    for m in METHODS:
        for metric in ("sic", "aic"):
            e = values[f"{M}.text.{metric}_auc.{m}"]
            assert e["verdict"] == "not comparable" and e["n"] == N_SMOKE and e["params"]["bins"] == 20
            X, Y = pic.text_arrays(rows, m, metric)
            _, curve, area = pic.text_curve(X, Y, metric, 20)
            assert e["value"] == pytest.approx(area, abs=1e-5)
            np.testing.assert_allclose(e["curve"], curve, atol=1e-5)
            assert e["ci"][0] <= e["value"] <= e["ci"][1]


def test_paired_differences_and_rank_agreement(values):
    for prefix in ("", "text."):
        for metric in ("sic", "aic"):
            if not prefix and v(values, f"{M}.{metric}_n_images.xrai") == 0:
                continue
            for x in ("xrai_union", "xrai"):
                e = values[f"{M}.{prefix}{metric}_diff.{x}_minus_ig_bw"]
                assert e["kind"] == "greater" and e["reference"] == 0
                assert values[f"{M}.{prefix}{metric}_diff.{x}_minus_grad_cam"]["kind"] == "greater"
            if not prefix:
                assert len(values[f"{M}.{metric}_diff.xrai_minus_ig_bw"]["units"]) == \
                    values[f"{M}.{metric}_diff.xrai_minus_ig_bw"]["n"]
            assert values[f"{M}.{prefix}{metric}_diff.random_minus_grad_cam"]["kind"] == "less"
            # recorded, not graded: Table 1's columns disagree (Random vs Gradient x Input); the paper compares no
            # two gains
            for pair in ("random_minus_gradient_x_input", "xrai_union_minus_xrai"):
                assert "verdict" not in values[f"{M}.{prefix}{metric}_diff.{pair}"]
            for col in ("resnet50_v2", "inception"):
                r = values[f"{M}.{prefix}{metric}_rank_agreement.{col}"]
                assert r["kind"] == "greater" and -1 <= r["ci"][0] <= r["value"] <= r["ci"][1] <= 1
                assert r["p_is_exact"] is True and 0 < r["p_exact"] <= 1
                assert r["interval"]["p_value"] == pytest.approx(r["p_exact"]) and r["methods"] == TABLE1
                if not prefix:
                    assert np.array(r["units"]).shape == (r["n"], 9)
                    assert -1 <= r["rho_with_pair_gain"] <= 1


def test_section_claims_on_the_drawn_images(values):
    for m in ("xrai_union", "xrai"):
        e = values[f"{M}.kept_areas_10pct.{m}_minus_grad_cam"]
        assert e["kind"] == "greater" and e["n"] == N_SMOKE and len(e["units"]) == N_SMOKE
        assert all(float(u).is_integer() for u in e["units"])
    e = values.get(f"{M}.dark_pixel_share_bw_minus_black")
    if e is not None:
        assert all(-1 <= u <= 1 for u in e["units"])
        np.testing.assert_allclose(np.array(e["bw"]) - np.array(e["black"]), e["units"], atol=1e-6)


def test_perturbation_check_values(values):
    assert v(values, "perturbation.ig_completeness_gap") < 5e-3
    assert v(values, "perturbation.ig_sum_min") >= 0.5 - 5e-3        # 1 - f(0, 0) with f(0, 0) <= 0.5
    assert v(values, "perturbation.min_delta_y") > 0                # removing either pixel always lowers f
    for m in ("gradient", "gradient_x_input", "integrated_gradients"):
        rates = v(values, f"perturbation.fail_rate.{m}")
        assert all(0 <= r <= 1 for r in rates.values())
        e = values[f"perturbation.fails.{m}"]
        assert e["n"] == 200 and e["interval"]["unit"] == "function" and e["verdict"] in claims.STATUSES + (NOT_GRADED,)
        assert e["value"] == pytest.approx(rates["0.01"], abs=1e-6)
    # completeness decides it: refused as a test
    assert values["perturbation.ig_pixel_minus_region_fails"]["verdict"] == "refused"


def test_figures_written(run_smoke, smoke_path):
    run_smoke(NB)
    figs = smoke_path(NB) / "figures" / NB / "smoke"
    for f in ("fig2_xrai_regions.png", "fig3_trajectory.png", "fig4_perturbation_check.png",
              "fig5_black_vs_black_white.png", "fig8_xrai_vs_gradcam_thresholds.png", f"fig9_pic_curves_{M}.png",
              "fig10_methods_at_20pct.png", f"table1_intervals_{M}.png"):
        assert (figs / f).stat().st_size > 10_000, f


def test_standard_run_draw_and_verdicts():
    doc = results.load(NB)          # the committed standard run
    vals = doc["values"]
    draw = vals["draw"]["value"]
    assert len(draw) == N_STANDARD == len(set(draw)) and "classes drawn with seed 0" in vals["draw"]["source"]
    compared = check_comparisons(vals)
    assert all(e["verdict"] == "not comparable" for k, e in compared.items() if "_auc." in k)
    assert vals[f"{M}.sic_n_images.random"]["value"] >= 30
    for prefix in ("", "text."):
        for k in (f"{M}.{prefix}sic_rank_agreement.resnet50_v2", f"{M}.{prefix}aic_rank_agreement.inception"):
            assert vals[k]["p_is_exact"] is True and vals[k]["n"] >= 30
        for m in TABLE1:
            assert vals[f"{M}.{prefix}sic_auc.{m}"]["n"] >= 30
    # IG with 32 steps: the median image within 10% of f(x) - f(baseline) (7% and 8% in the committed run)
    for key in ("ig_bw", "ig_black"):
        assert np.median(vals[f"{M}.ig_completeness.{key}"]["value"]) < 0.1
