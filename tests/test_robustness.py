"""Unit tests of xaikit.augmentation (Erdem & Mazurek): augmentations, rotations, SSIM, kept pairs, the experiment."""
import numpy as np
import pytest
import torch
from PIL import Image

from xaikit import attribution, augmentation as R, models


@pytest.fixture(scope="module")
def photo():
    """A real photo (the offline daisy), cropped to a square so that its rotation centre is the crop's."""
    img = R.load_originals(["n11939491_daisy.JPEG"])[0]
    w, h = img.size
    s = min(w, h)
    return img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return models.small_cnn(tuple("abcd"), in_channels=3, size=32).eval()


def test_rotation_by_zero_is_identity(photo):
    x = torch.rand(2, 3, 20, 20)
    assert torch.equal(R.rotate_maps(x, 0), x)
    assert np.array_equal(np.asarray(R.rotate_image(photo, 0)), np.asarray(photo))
    assert R.rotation_mask(20, 0).all()


def test_map_rotation_turns_the_same_way_as_the_image(photo):
    x = R.to_input(photo, 96)[None]
    for deg in (15, -30):
        img_rot = R.to_input(R.rotate_image(photo, deg), 96)[None]
        inside = R.rotation_mask(96, deg)
        same = (R.rotate_maps(x, deg) - img_rot)[..., inside].abs().mean()
        opposite = (R.rotate_maps(x, -deg) - img_rot)[..., inside].abs().mean()
        assert same < 0.05 < opposite


def test_rotation_leaves_zero_corners():
    x = torch.ones(1, 3, 40, 40)
    r = R.rotate_maps(x, 30)
    assert r[0, :, 0, 0].abs().max() < 1e-6 and r[0, :, 20, 20].sub(1).abs().max() < 1e-6
    assert not R.rotation_mask(40, 30)[0, 0] and R.rotation_mask(40, 30)[20, 20]


def test_rotate_maps_rejects_bad_shape():
    with pytest.raises(ValueError, match="N, C, H, W"):
        R.rotate_maps(torch.zeros(3, 8, 8), 15)


def test_gmic_filters_change_the_photo_and_keep_its_shape(photo):
    small = photo.resize((80, 80))
    a = np.asarray(small)
    for name, cmd in R.FILTERS.items():
        out = np.asarray(R.gmic_filter(small, cmd))
        assert out.shape == a.shape and out.dtype == np.uint8, name
        assert np.abs(out.astype(int) - a).mean() > 0.5, f"{name} left the image unchanged"


def test_augmented_batch_and_unknown_augmentation(photo):
    small = photo.resize((60, 60))
    b = R.augmented_batch(small, size=32)
    assert b.shape == (len(R.AUGMENTATIONS), 3, 32, 32) and b.min() >= 0 and b.max() <= 1
    assert torch.equal(b[0], R.to_input(small, 32))
    with pytest.raises(ValueError, match="unknown augmentation"):
        R.augmented_batch(small, ("none", "blur"), size=32)
    with pytest.raises(ValueError, match="unknown augmentation"):
        R.angle("rotate")


def test_ssim_identity_range_and_sign():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 32, 32, generator=g)
    b = torch.randn(3, 32, 32, generator=g)
    dr = float(max(a.abs().max(), b.abs().max()))
    assert R.attribution_ssim(a, a, dr) == pytest.approx(1.0)
    for x, y in ((a, b), (a, -a), (a, a + 0.3 * b)):
        assert -1 <= R.attribution_ssim(x, y, dr) <= 1
    assert R.attribution_ssim(a, a + 0.3 * b, dr) > R.attribution_ssim(a, a + b, dr) > R.attribution_ssim(a, b, dr)
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[8:24, 8:24] = True
    assert R.attribution_ssim(a, a, dr, mask=mask) == pytest.approx(1.0)


def test_ssim_bad_input():
    a = torch.zeros(3, 16, 16)
    with pytest.raises(ValueError, match="one shape"):
        R.attribution_ssim(a, torch.zeros(3, 16, 15), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        R.attribution_ssim(a, torch.full((3, 16, 16), float("nan")), 1.0)
    with pytest.raises(ValueError, match="data_range"):
        R.attribution_ssim(a, a, 0.0)


def test_kept_pairs():
    p0 = torch.tensor([0.9, 0.5])
    pa = torch.tensor([[0.9, 0.86, 0.84, 0.949], [0.1, 0.5, 0.549, 0.551]])
    kept = R.kept_pairs(p0, pa)
    assert kept.tolist() == [[True, True, False, True], [False, True, True, False]]
    with pytest.raises(ValueError, match="p_orig"):
        R.kept_pairs(p0, pa[0])
    with pytest.raises(ValueError, match="NaN"):
        R.kept_pairs(torch.tensor([float("nan"), 0.5]), pa)


def test_pair_ssims_checks_order_and_length():
    maps = torch.rand(3, 3, 16, 16)
    with pytest.raises(ValueError, match="'none'"):
        R.pair_ssims(maps, ("sharpen", "none", "rotate_15"), 1.0)
    with pytest.raises(ValueError, match="maps for"):
        R.pair_ssims(maps, ("none", "sharpen"), 1.0)
    # a base map against itself and against its own rotation scores 1 (the base is rotated first)
    rot = R.rotate_maps(maps[:1], 15)
    s = R.pair_ssims(torch.cat([maps[:1], maps[:1], rot]), ("none", "sharpen", "rotate_15"), 1.0)
    assert s == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("method,params", [
    ("saliency", {}), ("integrated_gradients", dict(n_steps=5)), ("guided_backprop", {}),
    ("guided_grad_cam", dict(layer="net.features.0")), ("deconvolution", {})])
def test_deterministic_methods_give_ssim_one_on_the_unaugmented_image(tiny, method, params):
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    a = attribution.attribute(tiny, x, 0, method, seed=None, **params)[0]
    b = attribution.attribute(tiny, x, 0, method, seed=None, **params)[0]
    assert R.attribution_ssim(a, b, float(a.abs().max())) == pytest.approx(1.0)


def test_method_settings_are_the_authors():
    s = R.method_settings("net.conv_stem")
    assert s["Guided Grad-CAM"] == ("guided_grad_cam", dict(layer="net.conv_stem", noise_tunnel=dict(
        nt_type="smoothgrad", nt_samples=8, stdevs=pytest.approx(0.226, abs=1e-3))))
    assert s["Integrated Gradients"] == ("integrated_gradients", dict(n_steps=25))
    assert s["GradientSHAP"][1]["n_samples"] == 5 and s["GradientSHAP"][1]["noise_tunnel"]["nt_samples"] == 5
    assert "Deconvolution" in R.method_settings("x", deconvolution=True)


def test_ssim_many_is_scikit_image_for_every_range():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(3, 48, 48, generator=g)
    b = a + 0.7 * torch.randn(3, 48, 48, generator=g)
    ranges = [0.3, 1.0, float(a.abs().max()), 25.0]
    many = R.ssim_many(a, b, ranges)
    assert many == pytest.approx([R.attribution_ssim(a, b, r) for r in ranges], abs=1e-10)
    assert np.all(np.diff(many) > 0)  # a wider range makes unlike maps look more alike
    mask = R.rotation_mask(48, 30)
    assert R.ssim_many(a, b, [2.0], mask=mask)[0] == pytest.approx(R.attribution_ssim(a, b, 2.0, mask=mask), abs=1e-10)
    assert R.ssim_many(a, a, [1.0])[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="> 0"):
        R.ssim_many(a, b, [1.0, 0.0])
    with pytest.raises(ValueError, match="one shape"):
        R.ssim_many(a, b[:, :40], [1.0])


def test_round_trip_costs_only_interpolation_and_corners():
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
    x = torch.stack([torch.exp(-(xx ** 2 + yy ** 2) * k) for k in (1.0, 2.0, 4.0)])[None]
    assert torch.equal(R.round_trip(x, 0), x)
    for deg in (15, -30):
        rt, inside = R.round_trip(x, deg), R.round_trip_mask(64, deg)
        assert not inside[0, 0] and inside[32, 32] and rt[0, :, 0, 0].abs().max() < 1e-6
        assert (rt - x)[..., inside].abs().mean() < 0.01  # a smooth map comes back where the frame kept it
    assert R.round_trip_mask(64, 30).sum() < R.round_trip_mask(64, 15).sum()


def test_stochastic_methods_are_the_noisy_ones():
    s = R.method_settings("layer", nt_samples=3, ig_steps=6, shap_samples=2, shap_nt_samples=1, deconvolution=True)
    assert R.stochastic(s) == ["Saliency", "Guided Backprop", "Guided Grad-CAM", "GradientSHAP", "Deconvolution"]
    assert R.passes_per_variant(s) == {"Saliency": 3, "Integrated Gradients": 6, "Guided Backprop": 3,
                                      "Guided Grad-CAM": 6, "GradientSHAP": 2, "Deconvolution": 3}
    assert R.stochastic({"IG": ("integrated_gradients", dict(n_steps=3))}) == []


def _images(n):
    g = np.random.default_rng(0)
    return [Image.fromarray(g.integers(0, 255, (40, 48, 3), dtype=np.uint8)) for _ in range(n)]


def test_run_uses_the_same_pairs_for_every_method_and_is_seeded(tiny):
    settings = R.method_settings("net.features.0", nt_samples=2, ig_steps=3, shap_samples=2, shap_nt_samples=1,
                                 deconvolution=True)
    imgs = _images(2)
    R.run(tiny, imgs[:1], {"Saliency": ("saliency", {})}, size=32, show_progress=False)  # forward plan, uncounted
    with models.count_forward(tiny) as c:
        out = R.run(tiny, imgs, settings, size=32, seed=0, keep_maps_for=(0, 1), show_progress=False)
    # predictions 2 x 10 (padding rows are not counted); per variant: saliency 2 + IG 3 + GBP 2 + GGC 2 x 2 +
    # GradientSHAP 2 x 1 + deconvolution 2; the noise floor re-runs the five stochastic methods once per image
    per = R.passes_per_variant(settings)
    assert per == {"Saliency": 2, "Integrated Gradients": 3, "Guided Backprop": 2, "Guided Grad-CAM": 4,
                   "GradientSHAP": 2, "Deconvolution": 2}
    assert c.images == 2 * (10 + 10 * 15 + (15 - 3))
    assert out["kept"].shape == out["top1_changed"].shape == (2, 9)
    summ = R.summarize(out)
    assert len({v["n"] for v in summ.values()}) == 1 and summ["Saliency"]["n"] == int(out["kept"].sum())
    augs = list(R.AUGMENTATIONS[1:])
    j = augs.index("rotate_15")
    for m, s in out["ssim"].items():
        assert s.shape == (2, 9) and np.all(s <= 1 + 1e-9) and np.all(s >= -1 - 1e-9), m
        assert set(out["ssim_ranges"]) == set(R.DATA_RANGES) and out["ssim_ranges"]["pooled_max"][m] is s
        # data_range = the method's largest |attribution| over the whole experiment; the p99 lies below it
        assert out["data_range"][m] == max(float(out["maps"][i][m].abs().max()) for i in (0, 1)), m
        assert 0 < out["data_range_p99"][m] <= out["data_range"][m], m
        # the whole-frame SSIM is scikit-image's, with the base map rotated like the image
        maps = out["maps"][0][m]
        base = R.rotate_maps(maps[:1], 15)[0]
        assert s[0, j] == pytest.approx(R.attribution_ssim(base, maps[j + 1], out["data_range"][m]), abs=1e-9)
        pair = max(float(base.abs().max()), float(maps[j + 1].abs().max()))
        assert out["ssim_ranges"]["pair_max"][m][0, j] == pytest.approx(
            R.attribution_ssim(base, maps[j + 1], pair), abs=1e-9), m
        assert out["ssim_ranges"]["pooled_p99"][m][0, -1] == pytest.approx(
            R.attribution_ssim(maps[0], maps[-1], out["data_range_p99"][m]), abs=1e-9), m
        # with each image's own range: identical for the image that holds the experiment's maximum
        own = out["ssim_ranges"]["image_max"][m]
        assert own.shape == (2, 9) and np.all(np.abs(own) <= 1 + 1e-9), m
        top = int(np.argmax([float(out["maps"][i][m].abs().max()) for i in (0, 1)]))
        assert np.allclose(own[top], s[top]), m
        # interpolation floor: the base map against its own round trip, one column per rotation
        rt = out["interpolation"][m]
        assert rt.shape == (2, len(R.ROTATIONS)) and np.all(rt <= 1 + 1e-9), m
        assert rt[0, 2] == pytest.approx(R.attribution_ssim(maps[0], R.round_trip(maps[:1], 15)[0],
                                                            out["data_range"][m]), abs=1e-9), m
    # the noise floor: every stochastic method re-run on the unaugmented image with another seed; IG has none
    assert out["stochastic"] == R.stochastic(settings) and "Integrated Gradients" not in out["stochastic"]
    for m in out["stochastic"]:
        f = out["noise_floor"]["pooled_max"][m]
        again = out["floor_maps"][0][m][0]
        assert f.shape == (2,) and np.all(f < 1) and not torch.equal(again, out["maps"][0][m][0]), m
        assert f[0] == pytest.approx(R.attribution_ssim(out["maps"][0][m][0], again, out["data_range"][m]),
                                     abs=1e-9), m
    # the filter does not depend on the attribution settings
    other = R.run(tiny, imgs, {"Saliency": ("saliency", {})}, size=32, seed=3, show_progress=False)
    assert torch.equal(other["kept"], out["kept"]) and other["noise_floor"] == {} and other["stochastic"] == []
    again = R.run(tiny, imgs, settings, size=32, seed=0, show_progress=False)
    for m in settings:
        assert np.array_equal(again["ssim"][m], out["ssim"][m]), m
    for m in out["stochastic"]:
        assert np.array_equal(again["noise_floor"]["pooled_max"][m], out["noise_floor"]["pooled_max"][m]), m


def test_run_with_cache_reads_the_maps_back(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("XAIKIT_DATA", str(tmp_path))
    settings = R.method_settings("net.features.0", nt_samples=2, ig_steps=3, shap_samples=2, shap_nt_samples=1)
    imgs = _images(1)
    first = R.run(tiny, imgs, settings, size=32, seed=1, cache=True, show_progress=False)
    assert len(list((tmp_path / "cache" / "maps").glob("*.pt"))) == len(settings) + len(R.stochastic(settings))
    with models.count_forward(tiny) as c:
        second = R.run(tiny, imgs, settings, size=32, seed=1, cache=True, show_progress=False)
    assert c.images == 10  # the predictions only: every map came from the cache
    for m in settings:
        assert np.array_equal(second["ssim"][m], first["ssim"][m]), m
    for m in first["stochastic"]:
        assert np.array_equal(second["noise_floor"]["pooled_max"][m], first["noise_floor"]["pooled_max"][m]), m


def test_run_scores_display_images_on_a_given_range(tiny):
    settings = {"Saliency": ("saliency", {})}
    imgs = _images(1)
    out = R.run(tiny, imgs, settings, size=32, data_range={"Saliency": 123.0}, noise_floor=False,
                keep_maps_for=(0,), show_progress=False)
    maps = out["maps"][0]["Saliency"]
    assert out["data_range"] == {"Saliency": 123.0}
    assert out["ssim"]["Saliency"][0, -1] == pytest.approx(R.attribution_ssim(maps[0], maps[-1], 123.0), abs=1e-9)


def test_run_requires_none_first(tiny):
    with pytest.raises(ValueError, match="start with 'none'"):
        R.run(tiny, _images(1), {}, augmentations=("sharpen", "none"), size=32, show_progress=False)


def test_subset_indices():
    assert R.subset_indices(10, 1.0).tolist() == list(range(10))
    s = R.subset_indices(100, 0.2)
    assert len(s) == 20 and np.all(np.diff(s) == 5)
    assert len(R.subset_indices(1001, 0.6)) == 600  # floor(1001 * 0.6)
    with pytest.raises(ValueError, match="fraction"):
        R.subset_indices(10, 0)


def test_sample_lookup_and_missing_original():
    assert R.sample_index(["daisy"]) == [985]
    assert R.sample_files(["daisy", "Cardigan", "cardigan"]) == ["n11939491_daisy.JPEG", "n02113186_Cardigan.JPEG",
                                                                 "n02963159_cardigan.JPEG"]
    with pytest.raises(ValueError, match="matches 0 files"):
        R.sample_index(["no_such_class"])
    with pytest.raises(FileNotFoundError, match="make data"):
        R.load_originals(["n00000000_nothing.JPEG"])


def test_finetune_sweep_needs_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="CUDA GPU"):
        next(R.finetune_sweep())


def test_deconvolution_ignores_the_input_on_efficientnet_lite0():
    # ReLU6 only, no max-pool, no squeeze-excitation, affine BatchNorm at test time: Captum's Deconvolution never
    # looks at the activations, so the map depends on the target class only (the notebook's caveat rests on it)
    model = models.load_model("efficientnet_lite0")
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    dec = attribution.attribute(model, x, 3, "deconvolution", seed=None)
    assert torch.equal(dec[0], dec[1]) and dec.abs().max() > 0
    assert not torch.equal(dec[0], attribution.attribute(model, x[:1], 4, "deconvolution", seed=None)[0])
    gbp = attribution.attribute(model, x, 3, "guided_backprop", seed=None)  # guided: it does look at the input
    assert not torch.allclose(gbp[0], gbp[1])
