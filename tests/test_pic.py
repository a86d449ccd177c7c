"""PIC: information level, the interpolation rebuild and compute_pic_metric against PAIR's `saliency`
package, curve aggregation, the two-pixel Perturbation-epsilon check, and bad input."""
import numpy as np
import pytest
import torch
from scipy import ndimage

from xaikit import data, models, pic, sanity

np.trapz = getattr(np, "trapz", np.trapezoid)   # PAIR's PIC code calls np.trapz, gone in NumPy 2.4


@pytest.fixture(scope="module")
def image64():
    x = data.load_imagenet_sample(1, start=1).images
    return torch.nn.functional.interpolate(x, size=64, mode="area")[0]


def test_information_level_is_one_for_the_unblurred_image(image64):
    img = pic.to_uint8(image64)
    rnd = pic.random_mask(64, 64, 0.01, seed=0)
    lv = pic.information_level([img, pic.rebuild(img, rnd), pic.blur(img, np.zeros((64, 64), bool), sigma=4)], img)
    assert lv[0] == 1.0
    assert lv[1] < 1.0 and lv[2] < 1.0
    assert pic.rebuild(img, np.ones((64, 64), bool)).tolist() == img.tolist()


@pytest.mark.parametrize("kind", ["grainy", "blobby"])
def test_rebuild_equals_pairs_create_blurred_image(image64, kind):
    from saliency.metrics.pic import create_blurred_image
    img = pic.to_uint8(image64)
    rng = np.random.default_rng(1)
    s = rng.random((64, 64)) if kind == "grainy" else ndimage.gaussian_filter(rng.normal(size=(64, 64)), 4)
    rnd = pic.random_mask(64, 64, 0.01, seed=2)
    for keep in pic.keep_masks(s, (0.05, 0.21, 0.5), rnd):
        np.testing.assert_array_equal(pic.rebuild(img, keep), create_blurred_image(img, keep))


def test_keep_masks_are_nested_and_hold_the_fraction():
    s = np.random.default_rng(0).random((50, 40))
    k = pic.keep_masks(s, pic.THRESHOLDS)
    assert (k[1:] >= k[:-1]).all()
    np.testing.assert_allclose(k.mean((1, 2)), pic.THRESHOLDS, atol=1 / 2000)


class Upsampled:
    """EfficientNet-Lite0 on a 64 x 64 image scaled up to 224 (so PAIR's griddata stays fast in a test)."""

    def __init__(self):
        self.net = models.load_model("efficientnet_lite0")

    def predict(self, x, batch_size=64):
        return self.net.predict(torch.nn.functional.interpolate(x, size=224, mode="bilinear"), batch_size)


def test_sic_and_aic_equal_pairs_compute_pic_metric(image64):
    from saliency.metrics.pic import compute_pic_metric
    model = Upsampled()
    img = pic.to_uint8(image64)
    sal = ndimage.gaussian_filter(np.random.default_rng(5).normal(size=(64, 64)), 3)
    rnd = pic.random_mask(64, 64, 0.01, seed=4)
    th = (0.02, 0.1, 0.3, 0.6)
    ours, _ = pic.pic_image(model, image64, {"m": sal}, thresholds=th, mode="rebuild", random=rnd)
    label = ours.label

    def softmax(b):
        return model.predict(pic.to_tensor(b))[:, label].numpy()

    def correct(b):
        return (model.predict(pic.to_tensor(b)).argmax(1) == label).float().numpy()

    for metric, fn in (("sic", softmax), ("aic", correct)):
        mine, why = ours.sic("m", 0.0) if metric == "sic" else ours.aic("m")
        try:
            ref = compute_pic_metric(img, sal, rnd, fn, th, min_pred_value=0.0)
        except Exception as e:   # PAIR skips the image: so must we
            assert mine is None and why, (metric, e)
            continue
        np.testing.assert_allclose(mine, ref.curve_y, atol=1e-6)
        assert pic.area(mine) == pytest.approx(ref.auc, abs=1e-6)


def test_pic_image_is_deterministic_and_batched(image64):
    model = Upsampled()
    sal = {"a": np.random.default_rng(0).random((64, 64)), "b": np.arange(64 * 64.0).reshape(64, 64)}
    rnd = pic.random_mask(64, 64, 0.01, seed=0)
    with models.count_forward(model.net) as c:
        r1, imgs = pic.pic_image(model, image64, sal, thresholds=(0.1, 0.5), random=rnd)
    assert c.calls == 1 and c.images == 2 + 2 * 2     # original + removed + 2 methods x 2 thresholds
    r2, _ = pic.pic_image(model, image64, sal, thresholds=(0.1, 0.5), random=rnd)
    assert (r1.label, r1.info_orig, r1.info_removed, r1.softmax_orig) == (r2.label, r2.info_orig, r2.info_removed,
                                                                         r2.softmax_orig)
    for k in sal:
        assert np.array_equal(r1.info[k], r2.info[k]) and np.array_equal(r1.softmax[k], r2.softmax[k])
    assert imgs["a"].shape == (2, 64, 64, 3)


def test_aggregate_median_and_area():
    x = pic.curve_x()
    ys = [x, x ** 2, np.ones_like(x)]
    y, auc = pic.aggregate(ys)
    np.testing.assert_allclose(y, x)      # per-point median of x^2 <= x <= 1
    assert auc == pytest.approx(0.5)
    assert pic.area(np.ones_like(x)) == pytest.approx(1.0)
    assert pic.aggregate([None]) [0] is None


def test_curve_normalisation_matches_hand_computation():
    y, why = pic._curve([50, 75, 100], [0.2, 0.1, 0.9], 0, 100, 0.0, 1.0, num_points=4)
    # x levels 0.5, 0.75, 1.0 -> running max of 0.2, 0.1, 0.9; points (0,0), (1,1) added
    np.testing.assert_allclose(y, [0.0, 0.1, 0.2, 0.2, 1.0])
    assert pic._curve([1], [1], 5, 5, 0, 1)[0] is None


def test_bad_input_raises(image64):
    with pytest.raises(ValueError, match="NaN"):
        pic.keep_masks(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="2-D"):
        pic.keep_masks(np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="unknown bokeh mode"):
        pic.bokeh(pic.to_uint8(image64), np.zeros((1, 64, 64), bool), mode="pixelate")
    with pytest.raises(ValueError, match="random seed mask"):
        pic.pic_image(None, image64, {"a": np.zeros((64, 64))}, mode="rebuild")
    with pytest.raises(ValueError, match="keep must be"):
        pic.rebuild(pic.to_uint8(image64), np.zeros((3, 3), bool))


def test_two_pixel_functions_peak_and_ig_completeness():
    out = sanity.run(100, seed=1, n_steps=512)
    np.testing.assert_allclose(out["f_peak"], 1.0, atol=1e-9)      # the spline passes through the peak node
    assert out["ig_completeness_gap"] < 2e-3                      # sum of IG = f(peak) - f(0, 0)
    assert out["ig_sum"].min() >= 0.5 - 2e-3                      # f(0, 0) is a node value <= 0.5
    np.testing.assert_allclose(out["gradient_x_input"], out["gradient"] * 127 / 255)
    for m in ("gradient", "gradient_x_input", "integrated_gradients"):
        rates = list(out[f"{m}_fail"].values())
        assert rates == sorted(rates)                             # larger epsilon, more failures
