"""Notebook 05 (XRAI, PIC, Perturbation-epsilon) in profile smoke: the values it saved, its comparisons with the
paper (interval, n, verdict), its figures; and the committed standard run's draw, intervals and verdicts."""

import numpy as np
import pytest

from _checks import check_comparisons
from xaikit import pic, results

NB = "05_xrai_and_performance_information_curves"
METHODS = ["xrai", "grad_cam", "ig_bw", "ig_4rand", "ig_black", "gradient", "gradient_x_input", "edges", "random"]
M = "efficientnet_lite0"
N_SMOKE = 3


@pytest.fixture(scope="module")
def values(run_smoke):
    return run_smoke(NB)["values"]


def v(values, key):
    return values[key]["value"]


def test_draw_is_saved_and_seeded(values):
    draw = v(values, "draw")
    assert len(draw) == N_SMOKE == len(set(draw))
    assert all(n.endswith(".JPEG") for n in draw)
    assert "classes drawn with seed 0" in values["draw"]["source"]


def test_xrai_equals_pair_and_its_trajectory_is_sound(values):
    assert v(values, "xrai.matches_pair_ranks") is True
    assert v(values, "xrai.max_heatmap_gap_vs_pair") < 1e-9
    assert v(values, "xrai.trajectory_monotone") is True
    assert v(values, "xrai.trajectory_covers_image") is True
    assert all(n > 10 for n in v(values, "xrai.n_regions"))


def test_information_level_of_the_unblurred_image_is_one(values):
    assert v(values, "information_level.original") == 1.0
    assert 0 < v(values, "information_level.fully_rebuilt") < 1
    assert 0 < v(values, "information_level.fully_blurred") < 1


def test_every_comparison_carries_interval_n_and_verdict(values):
    check_comparisons(values)


def test_table1_areas_are_not_comparable_and_rebuild_from_saved_points(values):
    draw = v(values, "draw")
    points = v(values, f"{M}.pic_points")
    assert len(points) == N_SMOKE and values[f"{M}.pic_points"]["unit_ids"] == draw
    for mode in ("", "blur."):
        for m in (METHODS if not mode else ["xrai", "random"]):
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
                    assert e["paper"] == {"resnet50_v2": pytest.approx(e["reference"]),
                                          "inception": pytest.approx(e["paper"]["inception"])}
    assert values[f"{M}.sic_auc.xrai"]["paper"] == {"resnet50_v2": 0.749, "inception": 0.72}
    # the saved raw points rebuild each image's AIC curve and its saved area
    for i, p in enumerate(points):
        img = pic.ImagePIC(p["label"], p["info_orig"], p["info_removed"], p["softmax_orig"], p["softmax_removed"],
                           p["correct_removed"], (0.05, 0.21, 0.5), {k: np.array(x) for k, x in p["info"].items()},
                           {k: np.array(x) for k, x in p["softmax"].items()},
                           {k: np.array(x, bool) for k, x in p["correct"].items()})
        curve = img.aic("xrai")[0]
        if curve is not None:
            e = values[f"{M}.aic_auc.xrai"]
            j = e["unit_ids"].index(draw[i])
            assert pic.area(curve) == pytest.approx(e["per_image_area"][j], abs=1e-5)
    # one forward batch per image: original + fully removed + 9 methods x 3 thresholds
    assert v(values, f"{M}.pic_forward_passes") == {"forward_calls": N_SMOKE, "images_forwarded": N_SMOKE * (2 + 9 * 3)}


def test_paired_differences_and_rank_agreement(values):
    for metric in ("sic", "aic"):
        if v(values, f"{M}.{metric}_n_images.xrai") == 0:
            continue
        e = values[f"{M}.{metric}_diff.xrai_minus_ig_bw"]
        assert e["kind"] == "greater" and e["reference"] == 0 and len(e["units"]) == e["n"]
        assert values[f"{M}.{metric}_diff.random_minus_grad_cam"]["kind"] == "less"
        assert values[f"{M}.{metric}_diff.xrai_minus_grad_cam"]["kind"] == "greater"
        # the paper's columns disagree on Random vs Gradient x Input: recorded, not graded
        assert "verdict" not in values[f"{M}.{metric}_diff.random_minus_gradient_x_input"]
        for col in ("resnet50_v2", "inception"):
            r = values[f"{M}.{metric}_rank_agreement.{col}"]
            assert r["kind"] == "greater" and -1 <= r["ci"][0] <= r["value"] <= r["ci"][1] <= 1
            assert r["p_is_exact"] is True and 0 < r["p_exact"] <= 1
            assert np.array(r["units"]).shape == (r["n"], 9) and r["methods"] == METHODS


def test_perturbation_check_values(values):
    assert v(values, "perturbation.ig_completeness_gap") < 5e-3
    assert v(values, "perturbation.ig_sum_min") >= 0.5 - 5e-3        # 1 - f(0, 0) with f(0, 0) <= 0.5
    assert v(values, "perturbation.min_delta_y") > 0                # removing either pixel always lowers f
    for m in ("gradient", "gradient_x_input", "integrated_gradients"):
        rates = v(values, f"perturbation.fail_rate.{m}")
        assert all(0 <= r <= 1 for r in rates.values())
        e = values[f"perturbation.fails.{m}"]
        assert e["n"] == 200 and e["interval"]["unit"] == "function" and e["verdict"] == "held"
        assert e["value"] == pytest.approx(rates["0.01"], abs=1e-6)
    assert values["perturbation.ig_pixel_minus_region_fails"]["verdict"] == "held"


def test_figures_written(run_smoke, smoke_path):
    run_smoke(NB)
    figs = smoke_path(NB) / "figures" / NB / "smoke"
    for f in ("fig2_xrai_regions.png", "fig4_perturbation_check.png", f"fig9_pic_curves_{M}.png",
              "fig10_methods_at_20pct.png", f"table1_intervals_{M}.png"):
        assert (figs / f).stat().st_size > 10_000, f


def test_standard_run_draw_and_verdicts():
    doc = results.load(NB)          # the committed standard run
    vals = doc["values"]
    draw = vals["draw"]["value"]
    assert len(draw) == 20 == len(set(draw)) and "classes drawn with seed 0" in vals["draw"]["source"]
    compared = check_comparisons(vals)
    assert all(e["verdict"] == "not comparable" for k, e in compared.items() if "_auc." in k)
    assert vals[f"{M}.sic_n_images.random"]["value"] >= 10
    for k in (f"{M}.sic_rank_agreement.resnet50_v2", f"{M}.aic_rank_agreement.inception"):
        assert vals[k]["p_is_exact"] is True and vals[k]["n"] >= 10
