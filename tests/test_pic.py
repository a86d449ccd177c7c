"""PIC: information level, the interpolation rebuild and compute_pic_metric against PAIR's `saliency`
package, curve aggregation, the two-pixel Perturbation-epsilon check, and bad input."""
import numpy as np
import pytest
import torch
from scipy import ndimage

from xaikit import completeness, data, models, perturbation_check, pic

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
    # original + removed + 2 methods x 2 thresholds, in full batches of the model's forward plan (the plan's own
    # timing passes and logits' padding rows are not counted)
    assert c.images == 2 + 2 * 2
    assert c.calls == -(-6 // models.forward_plan(model.net, (3, 224, 224)).batch_size)
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
    out = perturbation_check.run(100, seed=1, n_steps=512)
    np.testing.assert_allclose(out["f_peak"], 1.0, atol=1e-9)      # the spline passes through the peak node
    assert out["ig_completeness_gap"] < 2e-3                      # sum of IG = f(peak) - f(0, 0)
    assert out["ig_sum"].min() >= 0.5 - 2e-3                      # f(0, 0) is a node value <= 0.5
    np.testing.assert_allclose(out["gradient_x_input"], out["gradient"] * 127 / 255)
    for m in ("gradient", "gradient_x_input", "integrated_gradients"):
        rates = list(out[f"{m}_fail"].values())
        assert rates == sorted(rates)                             # larger epsilon, more failures


def test_identical_keep_masks_are_built_once_and_give_the_same_points(image64):
    model = Upsampled()
    s = np.random.default_rng(0).random((64, 64))
    rnd = pic.random_mask(64, 64, 0.01, seed=0)
    th = (0.1, 0.5)
    with models.count_forward(model.net) as c:
        both, _ = pic.pic_image(model, image64, {"a": s, "b": s.copy()}, thresholds=th, random=rnd)
    assert c.images == 2 + 2 and both.n_unique == 1 + 2     # original + removed + 2 thresholds, once for both maps
    alone, _ = pic.pic_image(model, image64, {"a": s}, thresholds=th, random=rnd)
    for k in ("a", "b"):
        assert np.array_equal(both.info[k], alone.info["a"]) and np.array_equal(both.correct[k], alone.correct["a"])
        np.testing.assert_allclose(both.softmax[k], alone.softmax["a"], rtol=0, atol=1e-6)


def test_pic_cache_round_trip(image64, tmp_path, monkeypatch):
    from xaikit import runtime
    monkeypatch.setattr(runtime, "cache_dir", lambda kind: tmp_path / kind)
    model = models.load_model("efficientnet_lite0")
    x = torch.nn.functional.interpolate(image64[None], size=224, mode="bilinear").clamp(0, 1)[0]
    sal = {"a": np.random.default_rng(0).random((224, 224))}
    rnd = pic.random_mask(224, 224, 0.01, seed=0)
    first, imgs = pic.pic_image(model, x, sal, thresholds=(0.1,), random=rnd, cache=True)
    assert imgs is not None and len(list((tmp_path / "pic").glob("*.json"))) == 1
    again, none = pic.pic_image(model, x, sal, thresholds=(0.1,), random=rnd, cache=True)
    assert none is None and again.as_dict() == first.as_dict()
    assert pic.ImagePIC.from_dict(first.as_dict()).as_dict() == first.as_dict()


def _row(info, softmax, correct, info_removed=20, info_orig=100, softmax_orig=0.8, softmax_removed=0.1):
    return pic.ImagePIC(0, info_orig, info_removed, softmax_orig, softmax_removed, False, (0.1, 0.5),
                        {"m": np.array(info)}, {"m": np.array(softmax)}, {"m": np.array(correct, bool)})


def test_text_definition_points_and_binned_curve():
    r = _row([30, 120], [0.4, 0.96], [False, True])
    x, y = pic.text_points(r, "m", "sic")
    # removed image, original, then the thresholds: x = size / original's (clipped), y = softmax ratio (clipped)
    np.testing.assert_allclose(x, [0.2, 1.0, 0.3, 1.0])
    np.testing.assert_allclose(y, [0.125, 1.0, 0.5, 1.0])
    x, y = pic.text_points(r, "m", "aic")
    np.testing.assert_allclose(y, [0, 1, 0, 1])
    # AIC: accuracy per bin over pooled points; empty bins interpolated, held flat at the ends
    c, v, a = pic.text_curve([0.05, 0.1, 0.6, 0.7, 0.95], [0, 1, 1, 1, 1], "aic", bins=4)
    np.testing.assert_allclose(c, [0.125, 0.375, 0.625, 0.875])
    np.testing.assert_allclose(v, [0.5, 0.75, 1.0, 1.0])
    assert a == pytest.approx(np.mean([0.5, 0.75, 1.0, 1.0]))
    # SIC: the median per bin (even counts: the mean of the middle two); x = 1 falls in the last bin
    c, v, a = pic.text_curve([0.1, 0.2, 0.2, 1.0, 0.9, 0.8], [0.1, 0.5, 0.3, 1.0, 0.2, 0.4], "sic", bins=2)
    np.testing.assert_allclose(v, [0.3, 0.4])
    with pytest.raises(ValueError, match="metric"):
        pic.text_curve([0.1], [1.0], "auc")


def test_text_arrays_stack_images():
    rows = [_row([30, 120], [0.4, 0.96], [False, True]), _row([50, 90], [0.2, 0.7], [False, True])]
    X, Y = pic.text_arrays(rows, "m", "aic")
    assert X.shape == Y.shape == (2, 4)
    _, _, pooled = pic.text_curve(X, Y, "aic", bins=5)
    assert 0 <= pooled <= 1


def test_ig_completeness_on_a_linear_model_is_exact():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 5)).eval()
    x = torch.rand(3, 3, 8, 8)
    t = torch.tensor([0, 2, 4])
    from xaikit import attribution
    for b in ("black", "black_white"):
        maps = attribution.attribute(net, x, t, method="integrated_gradients", baselines=b, n_steps=2)
        c = completeness.completeness(net, x, t, maps, b)
        assert np.abs(c["gap"]).max() < 1e-4 and (c["rel_gap"] < 1e-4).all()
    # a wrong map (half the attribution) shows up as a gap of half the difference
    c = completeness.completeness(net, x, t, maps / 2, "black_white")
    np.testing.assert_allclose(c["gap"], -c["delta"] / 2, atol=1e-4)


def test_pair_style_ig_is_complete_on_a_linear_model_and_matches_its_formula():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 3)).eval()
    x = torch.rand(2, 3, 4, 4)
    t = torch.tensor([1, 2])
    a = completeness.ig_pair_style(net, x, t, "black_white", steps=5)
    w = net[1].weight.detach().view(3, 3, 4, 4)
    # linear: gradient = weight row; black: x * w, white: (x - 1) * w; their mean
    np.testing.assert_allclose(a.numpy(), ((x * w[t] + (x - 1) * w[t]) / 2).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("metric", ["sic", "aic"])
def test_resampled_areas_equal_the_plain_loop(metric):
    rng = np.random.default_rng(3)
    n, P = 7, 5
    X = rng.random((n, P)) ** 2                                   # leaves some bins empty
    Y = rng.random((n, P)) if metric == "sic" else (rng.random((n, P)) > 0.4).astype(float)
    idx = rng.integers(0, n, size=(50, n))
    idx[0] = 0                                                    # one image only: most bins empty
    fast = pic.text_area_resampled(X, Y, metric, 10, idx)
    slow = [pic.text_curve(X[i], Y[i], metric, 10)[2] for i in idx]
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    curves = np.maximum.accumulate(rng.random((n, 1001)), axis=1)
    np.testing.assert_allclose(pic.median_area_resampled(curves, idx, chunk=8),
                               [pic.area(np.median(curves[i], 0)) for i in idx], rtol=0, atol=1e-12)


def test_median_area_difference_resamples_the_same_images_for_both():
    rng = np.random.default_rng(1)
    a = np.sort(rng.uniform(size=(12, 1001)), axis=1)    # 12 rising curves on curve_x(1000)
    b = np.sort(rng.uniform(size=(12, 1001)), axis=1) * 0.5
    ci = pic.median_area_difference(a, b, n_resamples=2000, seed=4)
    assert ci.estimate == pytest.approx(pic.aggregate(list(a))[1] - pic.aggregate(list(b))[1])
    idx = np.random.default_rng(4).integers(0, 12, size=(2000, 12))
    loop = [pic.area(np.median(a[i], 0)) - pic.area(np.median(b[i], 0)) for i in idx]
    assert (ci.low, ci.high) == pytest.approx(tuple(np.quantile(loop, [0.025, 0.975])))
    # a curve set against itself shifted by c: every resample gives exactly c (paired, not two independent draws)
    shifted = pic.median_area_difference(a + 0.1, a, n_resamples=2000)
    assert shifted.low == pytest.approx(0.1) and shifted.high == pytest.approx(0.1)
    with pytest.raises(ValueError, match="same images"):
        pic.median_area_difference(a, b[:5])
