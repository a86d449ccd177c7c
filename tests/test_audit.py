"""xaikit.audit on a small CNN trained here in seconds (CIFAR-10, 32 x 32 RGB): every lens's numbers equal the
per-paper functions called directly on the same inputs; models.wrap and data.load_image_folder on a user's own
net and folder; bad input fails clearly."""
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from xaikit import apem, attribution, audit, data, faithfulness, models, pic, reliability, roar, stats, training
from xaikit import augmentation as aug

B = 1000                      # bootstrap resamples in these tests (the kit's default is 10,000)
METHODS = ["gradient", "grad_cam", "random"]
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def _net(seed=0):
    torch.manual_seed(seed)
    return models.SmallCNN(in_channels=3, num_classes=10, size=32, width=8)


def _train(x, y, epochs=3, seed=0):
    m = models.wrap(_net(seed), CIFAR_MEAN, CIFAR_STD, classes=data.CIFAR10_CLASSES, name="small_cnn", input_size=32)
    training.train(m, x, y, epochs=epochs, batch_size=64, seed=seed, show_progress=False, patience=10)
    return m.eval()


@pytest.fixture(scope="module")
def setup():
    train = data.load_cifar10("train", n=400, seed=0)
    test = data.load_cifar10("test", n=12, seed=0)
    model = _train(train.images, train.labels)
    return model, train, test


# ----------------------------------------------------------------------------- models.wrap, load_image_folder

def test_wrap_puts_the_normalisation_first_and_finds_the_gradcam_layer():
    net = _net()
    m = models.wrap(net, CIFAR_MEAN, CIFAR_STD, classes=data.CIFAR10_CLASSES)
    assert isinstance(m, models.ImageClassifier) and list(dict(m.named_children())) == ["normalize", "net"]
    x = torch.rand(3, 3, 32, 32)
    want = net((x - torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)) / torch.tensor(CIFAR_STD).view(1, 3, 1, 1))
    assert torch.allclose(m(x), want, atol=1e-6)
    assert m.gradcam_layer == "net.features.3"                       # the last Conv2d
    assert m.layer() is net.features[3] and not m.training
    assert models.wrap(_net(), CIFAR_MEAN, CIFAR_STD, gradcam_layer="features.0").gradcam_layer == "net.features.0"
    assert models.wrap(_net(), CIFAR_MEAN, CIFAR_STD, gradcam_layer="net.features.0").gradcam_layer == \
        "net.features.0"
    n2 = _net()
    assert models.wrap(n2, CIFAR_MEAN, CIFAR_STD, gradcam_layer=n2.features[0]).gradcam_layer == "net.features.0"
    # a wrapped model goes through the kit: Grad-CAM at its layer, targets range-checked by its classes
    maps = attribution.attribute(m, x, None, "grad_cam")
    assert maps.shape == x.shape
    with pytest.raises(ValueError, match="out of range"):
        attribution.attribute(m, x, 10, "gradient")


@pytest.mark.parametrize("kw, match", [
    (dict(mean=(0.5, 0.5), std=(0.2, 0.2, 0.2)), "one value per channel"),
    (dict(mean=(0.5,) * 3, std=(0.2, 0.0, 0.2)), "std > 0"),
    (dict(mean=(0.5,) * 4, std=(0.2,) * 4), "takes 3 channels"),
    (dict(mean=(0.5,) * 3, std=(0.2,) * 3, gradcam_layer="features.99"), "not a sub-module"),
])
def test_wrap_rejects_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        models.wrap(_net(), **kw)


def test_wrap_refuses_a_model_that_already_normalises():
    m = models.wrap(_net(), CIFAR_MEAN, CIFAR_STD)
    with pytest.raises(ValueError, match="already"):
        models.wrap(m, CIFAR_MEAN, CIFAR_STD)
    with pytest.raises(TypeError):
        models.wrap(lambda x: x, CIFAR_MEAN, CIFAR_STD)


def _sample_files(k):
    d = data.data_root() / data.IMAGENET_SAMPLE_DIR
    files = sorted(d.glob("*.JPEG"))[:k]
    if len(files) < k:
        pytest.skip("the offline ImageNet sample is not laid out (make data)")
    return files


def test_load_image_folder_in_both_layouts(tmp_path):
    files = _sample_files(6)
    nested = tmp_path / "nested"
    for k, f in enumerate(files):
        d = nested / ("cats" if k < 2 else "dogs")
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, d / f.name)
    (nested / "notes.txt").write_text("not an image")
    d = data.load_image_folder(nested, size=64)
    assert isinstance(d, data.Data) and d.classes == ("cats", "dogs")
    assert d.images.shape == (6, 3, 64, 64) and d.images.min() >= 0 and d.images.max() <= 1
    assert d.labels.tolist() == [0, 0, 1, 1, 1, 1]
    assert d.names[0] == f"cats/{files[0].name}" and "ImageFolder layout, 2 classes" in d.source
    # a seeded draw across classes: both classes in a draw of 2, the same draw for the same seed
    a, b = data.load_image_folder(nested, n=2, seed=3, size=32), data.load_image_folder(nested, n=2, seed=3, size=32)
    assert sorted(a.labels.tolist()) == [0, 1] and a.names == b.names and torch.equal(a.images, b.images)
    # the same picture as the kit's own loader gives (resize 256 -> crop 224 by default)
    s = data.load_image_folder(nested, size=224)
    ref = data.load_imagenet_sample(names=[files[0].name])
    assert torch.equal(s.images[0], ref.images[0])
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in files[:3]:
        shutil.copy(f, flat / f.name.replace(".JPEG", ".png" if f == files[0] else ".jpg"))
    Image.open(files[0]).convert("L").save(flat / "grey.png")
    d = data.load_image_folder(flat, size=32)
    assert d.labels.tolist() == [-1] * 4 and d.classes == () and d.images.shape == (4, 3, 32, 32)
    assert "flat folder" in d.source
    assert data.load_image_folder(flat, size=32, channels=1).images.shape == (4, 1, 32, 32)


def test_load_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_image_folder(tmp_path / "nowhere")
    f = tmp_path / "file.jpg"
    f.write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        data.load_image_folder(f)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images"):
        data.load_image_folder(empty)
    with pytest.raises(ValueError, match="could not read image"):
        data.load_image_folder(tmp_path)                      # file.jpg is not a JPEG
    with pytest.raises(ValueError, match="n must be"):
        data.load_image_folder(tmp_path, n=0)


# ----------------------------------------------------------------------------- each lens = the direct functions

def _direct_maps(model, x, t):
    return {m: attribution.attribute(model, x, t, m, seed=0, cache=True) for m in METHODS}


def test_faithfulness_lens_equals_the_functions_of_notebook_02(setup):
    model, _, test = setup
    x = test.images
    t = models.predicted_class(model, x)
    maps = _direct_maps(model, x, t)
    values = faithfulness.replacement(x, "mean", mean=CIFAR_MEAN)
    base = faithfulness.random_baseline(model, x, values, 3, 20, t, seed=0)["per_image"][:, 20].numpy()
    for metric, order in (("aopc_morf", "morf"), ("aopc_lerf", "lerf")):
        r = audit.Faithfulness(metric, steps=20, n_orders=3, n_resamples=B)(model, test, method=METHODS)
        assert list(r.per_image.index) == test.names and list(r.per_image.columns) == METHODS
        for m in METHODS:
            a = faithfulness.aopc(faithfulness.deletion_curves(
                model, x, faithfulness.pixel_order(attribution.to_2d(maps[m], "sum"), order), values, 20, t))
            np.testing.assert_array_equal(r.per_image[m].to_numpy(), a[:, 20].numpy() - base)
            np.testing.assert_array_equal(r.details["aopc"][m], a[:, 20].numpy())
            want = stats.bootstrap(a[:, 20].numpy() - base, n_resamples=B, seed=0)
            assert r.summary[m] == want
        assert r.higher_is_better == (order == "morf") and r.reference == 0.0
    r = audit.Faithfulness("f", n_pixels=30, n_resamples=B)(model, x, method=METHODS)
    pixels = faithfulness.choose_pixels(30, 32, 32, seed=0)
    deltas = faithfulness.single_pixel_deltas(model, x, pixels, values, t)
    for m in METHODS:
        f = faithfulness.faithfulness(attribution.to_2d(maps[m], "sum"), pixels, deltas).numpy()
        np.testing.assert_array_equal(r.per_image[m].to_numpy(), f)
        assert r.summary[m] == stats.bootstrap(f[np.isfinite(f)], n_resamples=B, seed=0)


def test_faithfulness_patches_use_region_order():
    torch.manual_seed(1)
    model = models.wrap(models.SmallCNN(3, 4, size=96, width=4), (0.5,) * 3, (0.25,) * 3)
    x = torch.rand(3, 3, 96, 96)
    lens = audit.Faithfulness("aopc_morf", n_orders=2, n_resamples=B)
    assert lens.patch(96, 96) == 16 and lens.n_steps(96, 96) == 4           # 10% of 36 patches
    r = lens(model, x, method="gradient")
    t = models.predicted_class(model, x)
    m2 = attribution.to_2d(attribution.attribute(model, x, t, "gradient", cache=True), "sum")
    values = faithfulness.replacement(x, "mean", mean=(0.5,) * 3)
    a = faithfulness.aopc(faithfulness.deletion_curves(model, x, faithfulness.region_order(m2, 16, "morf"), values,
                                                       4, t, pixels_per_step=256))[:, 4].numpy()
    np.testing.assert_array_equal(r.details["aopc"]["gradient"], a)
    np.testing.assert_allclose(r.per_image["gradient"].to_numpy(), a - r.details["random_aopc"])
    assert r.details["deleted_fraction"] == pytest.approx(4 * 256 / 96 ** 2)


def test_reliability_lens_equals_krippendorff_alpha_of_the_rankings(setup):
    model, _, test = setup
    r = audit.Faithfulness("aopc_morf", steps=20, n_orders=3, n_resamples=B)(model, test, method=METHODS)
    rel = audit.Reliability(n_resamples=B)(r)
    ranks = reliability.rank_methods(r.per_image.to_numpy(), True)
    want = reliability.bootstrap_alpha(ranks, n_resamples=B, seed=0)
    ci = rel.summary["all methods"]
    assert ci.estimate == want["alpha"] and (ci.low, ci.high) == (want["lo"], want["hi"])
    assert rel.details["inter_method"] == reliability.inter_method(r.per_image.to_numpy())["mean"]
    np.testing.assert_array_equal(rel.per_image.to_numpy(), ranks)
    assert rel.reference == audit.ALPHA_REFERENCE
    assert rel.table()["verdict"][0] == stats.verdict(ci, "greater", audit.ALPHA_REFERENCE).verdict
    with pytest.raises(ValueError, match="two methods"):
        audit.Reliability()(audit.Faithfulness("f", n_pixels=10, n_resamples=B)(model, test, method="gradient"))


def test_augmentation_lens_equals_the_functions_of_notebook_01(setup):
    model, _, test = setup
    x = test.images[:5]
    augs = ("none", "rotate_-15", "rotate_30", "sharpen")
    r = audit.AugmentationRobustness(augs, threshold=0.2, n_resamples=B)(model, x, method=METHODS[:2])
    batches = [aug.augmented_batch(Image.fromarray((xi.permute(1, 2, 0) * 255).round().byte().numpy()), augs, 32)
               for xi in x]
    p = [model.predict(b) for b in batches]
    c = [int(q[0].argmax()) for q in p]
    kept = np.stack([aug.kept_pairs(q[:1, k], q[None, 1:, k], 0.2)[0].numpy() for q, k in zip(p, c)])
    np.testing.assert_array_equal(r.details["kept"], kept)
    for m in METHODS[:2]:
        maps = [attribution.attribute(model, b, k, m, seed=0, batch_size=len(b)) for b, k in zip(batches, c)]
        pooled = max(float(mp.abs().max()) for mp in maps)
        assert r.details["data_range"][m] == pooled
        s = np.stack([aug.pair_ssims(mp, augs, pooled) for mp in maps])
        want = np.array([s[i][kept[i]].mean() if kept[i].any() else np.nan for i in range(len(x))])
        np.testing.assert_array_equal(r.per_image[m].to_numpy(), want)
    with pytest.raises(ValueError, match="method names"):
        audit.AugmentationRobustness()(model, x, maps={"a": torch.zeros_like(x)})
    with pytest.raises(ValueError, match="augmentations"):
        audit.AugmentationRobustness(("rotate_45",))


def test_apem_lens_equals_the_functions_of_notebook_04(setup):
    model, _, test = setup
    x = test.images[:8]
    r = audit.APEM(max_eps=300, paces=(1,), n_resamples=B)(model, x, method=METHODS[:2])
    label = models.predicted_class(model, x)
    gs = apem.loss_gradient_sign(model, x, label)
    for m in METHODS[:2]:
        a = attribution.attribute(model, x, label, m, seed=0, cache=True)
        em, ep = apem.eps_pair(model, x, apem.relevance_map(a, x, "final"), label, gs, max_eps=300, paces=(1,))
        want = np.where((em > 300).numpy(), np.nan, (ep - em).double().numpy())
        np.testing.assert_array_equal(r.per_image[m].to_numpy(), want)
        ok = np.isfinite(want)
        s = stats.censored_summary(want[ok], censored=(ep > 300).numpy()[ok], n_resamples=B, seed=0)
        ci = r.summary[m]
        assert ci.n == s["n"] and ci.estimate == (301.0 if s["median"] is None else s["median"])
        assert ci.low == (301.0 if s["low"] is None else s["low"])


def test_pic_lens_equals_the_functions_of_notebook_05(setup):
    model, _, test = setup
    x = test.images[:6]
    th = (0.05, 0.21, 0.5)
    for metric in ("sic", "aic"):
        r = audit.PIC(metric, thresholds=th, min_pred_value=0.0, n_median_resamples=B, n_resamples=B)(
            model, x, method=METHODS[:2])
        t = models.predicted_class(model, x)
        for m in METHODS[:2]:
            m2 = attribution.to_2d(attribution.attribute(model, x, t, m, seed=0, cache=True), "abs_sum")
            rows = [pic.pic_image(model, x[i], {m: m2[i]}, thresholds=th,
                                  random=pic.random_mask(32, 32, 0.01, seed=i))[0] for i in range(len(x))]
            curves = [(q.sic(m, 0.0) if metric == "sic" else q.aic(m))[0] for q in rows]
            want = [pic.area(c) if c is not None else np.nan for c in curves]
            np.testing.assert_array_equal(r.per_image[m].to_numpy(), want)
            ok = [c for c in curves if c is not None]
            if ok:
                assert r.summary[m].estimate == pic.aggregate(ok)[1] and r.summary[m].n == len(ok)
        assert r.reference is None and r.table()["verdict"].isna().all()


def test_roar_lens_retrains_with_the_users_train_fn(setup):
    model, train, test = setup
    xtr, ytr = train.images[:200], train.labels[:200]
    calls = []

    def train_fn(x, y):
        calls.append(len(x))
        return _train(x, y, epochs=1, seed=1)

    x, y = test.images, test.labels
    lens = audit.ROAR(train_fn, xtr, ytr, fractions=(0.5, 0.9), n_resamples=B)
    r = lens(model, x, y, method=["gradient"])
    assert len(calls) == 2 * 2 + 1 and r.details["trainings"] == 5          # 2 fractions x (method, random) + 1
    mean = roar.dataset_mean(xtr)
    rk = lambda maps, s: roar.ranks(roar.pixel_scores(maps), seed=s)  # noqa: E731
    r_te = rk(attribution.attribute(model, x, y, "gradient", seed=0, cache=True), 0)
    r_tr = rk(attribution.attribute(model, xtr, ytr, "gradient", seed=0, cache=True), 0)
    rnd_te, rnd_tr = roar.ranks(torch.zeros(len(x), 32, 32), 1), roar.ranks(torch.zeros(200, 32, 32), 2)
    corr = {}
    for name, (a, b) in {"gradient": (r_tr, r_te), "random": (rnd_tr, rnd_te)}.items():
        corr[name] = np.stack([(roar.predictions(train_fn(roar.modify(xtr, a, f, "roar", mean), ytr),
                                                 roar.modify(x, b, f, "roar", mean)) == y).numpy()
                               for f in (0.5, 0.9)], 1).mean(1)
    np.testing.assert_array_equal(r.per_image["gradient"].to_numpy(), corr["random"] - corr["gradient"])
    assert r.summary["gradient"] == stats.bootstrap(corr["random"] - corr["gradient"], n_resamples=B, seed=0)
    with pytest.raises(ValueError, match="train_fn"):
        audit.ROAR(None, xtr, ytr)
    with pytest.raises(ValueError, match="true labels"):
        lens(model, x, None, method=["gradient"])


# ----------------------------------------------------------------------------- call shape, report, bad input

def test_maps_given_or_computed_agree_and_targets_default_to_the_prediction(setup):
    model, _, test = setup
    x = test.images
    t = models.predicted_class(model, x)
    lens = audit.Faithfulness("f", n_pixels=20, n_resamples=B)
    by_name = lens(model, x, method={"grad": "gradient", "ig": ("integrated_gradients", {"n_steps": 4})})
    maps = {"grad": attribution.attribute(model, x, t, "gradient"),
            "ig": attribution.attribute(model, x, t, "integrated_gradients", n_steps=4)}
    given = lens(model, x, t, maps=maps)
    for m in ("grad", "ig"):
        np.testing.assert_array_equal(by_name.per_image[m].to_numpy(), given.per_image[m].to_numpy())
    other = lens(model, x, (t + 1) % 10, method="gradient")           # explicit targets are used
    assert not np.array_equal(other.per_image["gradient"].to_numpy(), by_name.per_image["grad"].to_numpy())


@pytest.mark.parametrize("call, match", [
    (dict(method="no_such_method"), "unknown attribution method"),
    (dict(), "give maps"),
    (dict(maps={"a": torch.zeros(12, 3, 16, 16)}), "must be"),
    (dict(maps={"gradient": torch.zeros(12, 3, 32, 32)}, method="gradient"), "both"),
    (dict(maps={"a": torch.full((12, 3, 32, 32), float("nan"))}), "NaN"),
])
def test_bad_calls_fail_clearly(setup, call, match):
    model, _, test = setup
    with pytest.raises(ValueError, match=match):
        audit.Faithfulness("f", n_pixels=10)(model, test.images, **call)


def test_bad_images_fail_clearly(setup):
    model, _, test = setup
    with pytest.raises(ValueError, match="images"):
        audit.Faithfulness("f")(model, test.images[0], method="gradient")
    with pytest.raises(ValueError, match="ids"):
        audit.Faithfulness("f")(model, test.images, method="gradient", ids=["a"] * 12)
    with pytest.raises(ValueError, match="metric"):
        audit.Faithfulness("aopc")


def test_report_table_and_figure(setup, tmp_path):
    model, _, test = setup
    x = test.images
    res = [audit.Faithfulness("aopc_morf", steps=10, n_orders=2, n_resamples=B)(model, x, method=METHODS),
           audit.APEM(max_eps=300, paces=(1,), n_resamples=B)(model, x, method=METHODS[:2])]
    res.append(audit.Reliability(n_resamples=B)(res[0]))
    fig, table = audit.report(res, "gradient", image=x[0], map=attribution.attribute(model, x[:1], None)[0],
                              path=tmp_path / "gradient.png")
    assert (tmp_path / "gradient.png").is_file()
    assert list(table["lens"]) == ["faithfulness", "apem", "reliability"]
    ci = res[0].summary["gradient"]
    assert table["estimate [95% CI]"][0] == f"{ci.estimate:.3g} [{ci.low:.3g}, {ci.high:.3g}]"
    assert table["n"][0] == ci.n == 12
    v = stats.verdict(ci, "greater", 0.0).verdict
    assert table["reading"][0].startswith({"held": "yes", "not held": "no", "inconclusive": "undecided"}[v])
    long = audit.summary_table(res)
    assert len(long) == len(METHODS) + 2 + 1
    with pytest.raises(ValueError, match="no lens result"):
        audit.report(res, "deep_taylor")


def test_run_shares_the_call_and_adds_reliability(setup):
    model, _, test = setup
    lenses = [audit.Faithfulness("f", n_pixels=20, n_resamples=B), audit.APEM(max_eps=300, paces=(1,), n_resamples=B)]
    out = audit.run(model, test, METHODS[:2], lenses)
    assert [r.name for r in out] == ["faithfulness.f", "apem.apem", "reliability.alpha[faithfulness.f]",
                                     "reliability.alpha[apem.apem]"]
    alone = lenses[0](model, test, method=METHODS[:2])
    np.testing.assert_array_equal(out[0].per_image.to_numpy(), alone.per_image.to_numpy())


# ----------------------------------------------------------------------------- renamed modules, import order

def test_old_module_names_still_work_and_warn():
    import importlib
    import sys

    from xaikit import augmentation, completeness, perturbation_check
    for name in ("xaikit.robustness", "xaikit.sanity"):
        sys.modules.pop(name, None)
    with pytest.warns(DeprecationWarning, match="augmentation"):
        old = importlib.import_module("xaikit.robustness")
    assert old is augmentation and old.pair_ssims is augmentation.pair_ssims
    with pytest.warns(DeprecationWarning, match="perturbation_check"):
        sanity = importlib.import_module("xaikit.sanity")
    assert sanity.run is perturbation_check.run and sanity.completeness is completeness.completeness
    assert sanity.ig_pair_style is completeness.ig_pair_style and sanity.NODES is perturbation_check.NODES


def test_attribution_does_not_import_xrai_yet_xrai_is_registered():
    import ast
    import subprocess
    import sys
    tree = ast.parse(open(attribution.__file__).read())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "xrai" not in imported
    code = "import xaikit.attribution as a, sys; print('xrai' in a.METHODS, 'xaikit.xrai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True"]
