"""Notebook 05 (XRAI, PIC, Perturbation-epsilon) in profile smoke: the values it saved, its figures, the same
seed giving the same file; and the committed standard run's ranking of Random below XRAI and IG."""

import pytest

from xaikit import results

NB = "05_xrai_and_performance_information_curves"
METHODS = ["xrai", "grad_cam", "ig_bw", "ig_4rand", "ig_black", "gradient", "gradient_x_input", "edges", "random"]
M = "efficientnet_lite0"


@pytest.fixture(scope="module")
def values(run_smoke):
    return run_smoke(NB)["values"]


def v(values, key):
    return values[key]["value"]


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


def test_pic_areas_and_batching(values):
    for mode in ("", "blur."):
        for m in (METHODS if not mode else ["xrai", "random"]):
            for metric in ("sic", "aic"):
                n = v(values, f"{M}.{mode}{metric}_n_images.{m}")
                assert 0 <= n <= 2
                key = f"{M}.{mode}{metric}_auc.{m}"
                assert (key not in values) if n == 0 else (0 <= v(values, key) <= 1)
    assert values[f"{M}.sic_auc.xrai"]["paper"] == {"resnet50_v2": [0.749, 0.728], "inception": [0.72, 0.727]}
    # one forward batch per image: original + fully removed + 9 methods x 3 thresholds
    fp = v(values, f"{M}.pic_forward_passes")
    assert fp == {"forward_calls": 2, "images_forwarded": 2 * (2 + 9 * 3)}


def test_perturbation_check_values(values):
    assert v(values, "perturbation.ig_completeness_gap") < 5e-3
    assert v(values, "perturbation.ig_sum_min") >= 0.5 - 5e-3        # 1 - f(0, 0) with f(0, 0) <= 0.5
    assert v(values, "perturbation.min_delta_y") > 0                # removing either pixel always lowers f
    for m in ("gradient", "gradient_x_input", "integrated_gradients"):
        rates = v(values, f"perturbation.fail_rate.{m}")
        assert all(0 <= r <= 1 for r in rates.values())


def test_figures_written(run_smoke, smoke_path):
    run_smoke(NB)
    figs = smoke_path(NB) / "figures" / NB / "smoke"
    for f in ("fig2_xrai_regions.png", "fig4_perturbation_check.png", f"fig9_pic_curves_{M}.png",
              "fig10_methods_at_20pct.png"):
        assert (figs / f).stat().st_size > 10_000, f



def test_standard_run_random_scores_below_xrai_and_ig_on_sic_area():
    doc = results.load(NB)          # the committed standard run
    vals = doc["values"]
    rnd = vals[f"{M}.sic_auc.random"]["value"]
    assert vals[f"{M}.sic_n_images.random"]["value"] >= 10
    assert rnd < vals[f"{M}.sic_auc.xrai"]["value"]
    assert rnd < vals[f"{M}.sic_auc.ig_bw"]["value"]
