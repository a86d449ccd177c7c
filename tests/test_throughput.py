"""Speed without changed results: the forward plan, channels-last, the attribution-map cache, and the perturbation
metrics against Quantus 0.6 on identical inputs (the equality the benchmarks/ scripts time).

A seeded, untrained CIFAR CNN on real CIFAR-10 test images: the identities tested do not need a trained model.
"""
import json
import warnings

import numpy as np
import pytest
import torch

from _checks import F32
from xaikit import attribution, data, models, runtime
from xaikit import faithfulness as F


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = models.cifar_cnn(data.CIFAR10_CLASSES).eval()
    x = data.load_cifar10("test", n=6, seed=3).images
    maps = attribution.to_2d(attribution.attribute(model, x, method="gradient_x_input"), "sum")
    return model, x, maps


def test_forward_plan_is_the_best_of_its_sweep_cached_and_leaves_the_rng_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("XAIKIT_DATA", str(tmp_path))
    monkeypatch.setattr(models, "_PLANS", {})
    model = models.small_cnn(data.CIFAR10_CLASSES).eval()
    state = torch.random.get_rng_state()
    with models.count_forward(model) as c:
        plan = models.forward_plan(model, (1, 28, 28), min_s=0.01)
    assert torch.equal(state, torch.random.get_rng_state())          # timing draws from its own generator
    assert c.calls == 0                                              # timing passes are not the experiment's
    assert (plan.batch_size, plan.channels_last, plan.images_per_s) == max(plan.sweep, key=lambda r: r[2])
    assert {b for b, _, _ in plan.sweep} >= {4, 8} and plan.threads == torch.get_num_threads()
    saved = json.loads((tmp_path / "cache" / "throughput" / "plans.json").read_text())
    assert [v["batch_size"] for v in saved.values()] == [plan.batch_size]
    # a second model of the same architecture (other weights) reuses the plan, from memory or from disk
    other = models.small_cnn(data.CIFAR10_CLASSES).eval()
    monkeypatch.setattr(models, "_PLANS", {})
    calls = []
    h = other.register_forward_hook(lambda *a: calls.append(1))
    assert models.forward_plan(other, (1, 28, 28)) == plan and not calls
    h.remove()


@pytest.mark.parametrize("make", [lambda: models.cifar_cnn(data.CIFAR10_CLASSES),
                                  lambda: models.small_cnn(data.CIFAR10_CLASSES, in_channels=3, size=32)])
def test_outputs_do_not_depend_on_batch_size_or_memory_format_choice(make):
    """The plan changes speed, and results only within float32 rounding: padded to a multiple of ROWS, an image
    gives the same logits wherever it falls among batches of one size; across batch sizes and formats other
    matrix kernels may run (they change the last bits)."""
    torch.manual_seed(1)
    model = make().eval()
    x = data.load_cifar10("test", n=20, seed=1).images
    plan = models.forward_plan(model, (3, 32, 32))
    ref = models.logits(model, x, 20)
    for bs in (1, 2, 3, 5, 7, plan.batch_size):
        assert torch.allclose(models.logits(model, x, bs), ref, **F32)
    # one batch size: the same image in a full batch or in a short, padded one (13 = 8 + 5 -> 8 + 8 rows)
    by8 = models.logits(model, x, 8)
    assert torch.equal(models.logits(model, x[3:16], 8), by8[3:16])
    with torch.inference_mode():
        plain = model(x)
    assert torch.allclose(plain, ref, rtol=1e-4, atol=1e-5)


def test_attribution_cache_reads_only_what_it_wrote(setup, tmp_path, monkeypatch):
    monkeypatch.setenv("XAIKIT_DATA", str(tmp_path))
    model, x, _ = setup
    fresh = attribution.attribute(model, x, method="smoothgrad", n_samples=3, seed=5)
    first = attribution.attribute(model, x, method="smoothgrad", n_samples=3, seed=5, cache=True)
    files = list((tmp_path / "cache" / "maps").iterdir())
    assert torch.equal(first, fresh) and len(files) == 1 and files[0].suffix == ".pt"
    torch.save(torch.full_like(first, 7.0), files[0])                # tamper: a hit must read the file
    assert (attribution.attribute(model, x, method="smoothgrad", n_samples=3, seed=5, cache=True) == 7).all()
    # anything the maps depend on gives a new key, never the tampered file
    changed = [dict(seed=6), dict(n_samples=4), dict(batch_size=4)]
    for kw in changed:
        args = {**dict(n_samples=3, seed=5), **kw}
        assert not (attribution.attribute(model, x, method="smoothgrad", cache=True, **args) == 7).any()
    assert not (attribution.attribute(model, x[:5], method="smoothgrad", n_samples=3, seed=5, cache=True) == 7).any()
    other = models.cifar_cnn(data.CIFAR10_CLASSES).eval()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        other.net.classifier.weight[0, 0] += 1e-3
    assert not (attribution.attribute(other, x, method="smoothgrad", n_samples=3, seed=5, cache=True) == 7).any()
    # a baseline tensor inside the parameters is hashed by content
    b1, b2 = torch.zeros_like(x[:1]), torch.full_like(x[:1], 0.5)
    m1 = attribution.attribute(model, x, method="integrated_gradients", baselines=b1, n_steps=4, cache=True)
    m2 = attribution.attribute(model, x, method="integrated_gradients", baselines=b2, n_steps=4, cache=True)
    assert not torch.equal(m1, m2)
    assert not list((tmp_path / "cache" / "maps").glob("*.tmp")) and not list((tmp_path / "cache" / "maps").glob(".*"))


def test_digest_sees_tensor_content_dtype_and_nesting():
    t = torch.arange(6.0)
    assert runtime.digest(t) == runtime.digest(t.clone())
    assert runtime.digest(t) != runtime.digest(t.double())
    assert runtime.digest(t) != runtime.digest(t.view(2, 3))
    assert runtime.digest({"b": t}) != runtime.digest({"b": t + 1e-6})
    assert runtime.digest({"a": 1, "b": 2}) == runtime.digest({"b": 2, "a": 1})


def test_region_order_and_pixels_per_step(setup):
    model, x, maps = setup
    values = F.replacement(x, "random", seed=2)
    order = F.region_order(maps, 4, "morf")
    n, h, w = maps.shape
    for i in range(n):   # naive: patch sums, sorted largest first, each patch's pixels in raster order
        sums = {(r, c): float(maps[i, r:r + 4, c:c + 4].sum()) for r in range(0, h, 4) for c in range(0, w, 4)}
        ranked = sorted(sums, key=lambda rc: (-sums[rc], rc))
        want = [(r + dr) * w + c + dc for r, c in ranked for dr in range(4) for dc in range(4)]
        assert order[i].tolist() == want
    assert torch.equal(torch.sort(order, 1).values, torch.arange(h * w).expand(n, -1))
    coarse = F.deletion_curves(model, x, order, values, steps=8, pixels_per_step=16)
    fine = F.deletion_curves(model, x, order, values, steps=8 * 16)
    assert torch.allclose(coarse, fine[:, ::16], **F32)   # other batch compositions: see F32
    with pytest.raises(ValueError, match="divide"):
        F.region_order(maps, 5)


@pytest.fixture(scope="module")
def grey():
    """Quantus flips channel elements, `features_in_step` at a time, and needs it to divide H x W: one pixel
    of all three CIFAR channels (3) never divides 32 x 32, so pixel-level equality is tested on one channel."""
    torch.manual_seed(0)
    model = models.small_cnn(tuple(range(10))).eval()
    x = data.load_fashion_mnist("test", n=2, seed=3).images     # 2 x 784 Quantus forwards per metric
    maps = attribution.to_2d(attribution.attribute(model, x, method="gradient_x_input"), "sum")
    return model, x, maps


def _quantus_inputs(model, x, maps):
    import quantus
    target = F.predicted(model, x)
    return quantus, dict(model=model, x_batch=x.numpy(), y_batch=target.numpy(),
                         a_batch=maps[:, None].numpy(), device="cpu"), target


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def test_deletion_curves_equal_quantus_pixel_flipping(grey):
    model, x, maps = grey
    quantus, kw, target = _quantus_inputs(model, x, maps)
    q = _quiet(lambda: quantus.PixelFlipping(features_in_step=1, perturb_baseline=0.0, disable_warnings=True,
                                             display_progressbar=False)(**kw, softmax=True))
    ours = F.deletion_curves(model, x, F.pixel_order(maps), torch.zeros_like(x), steps=28 * 28, target=target)
    assert np.abs(np.asarray(q) - ours[:, 1:].numpy()).max() < 1e-5


def test_region_curves_equal_quantus_region_perturbation(setup):
    model, x, maps = setup
    quantus, kw, target = _quantus_inputs(model, x, maps)
    q = _quiet(lambda: quantus.RegionPerturbation(patch_size=4, regions_evaluation=64, perturb_baseline=0.0,
                                                  disable_warnings=True, display_progressbar=False
                                                  )(**kw, softmax=True))
    ours = F.deletion_curves(model, x, F.region_order(maps, 4), torch.zeros_like(x), steps=64, target=target,
                             pixels_per_step=16)
    assert np.abs(np.asarray(q) - (ours[:, :1] - ours[:, 1:]).numpy()).max() < 1e-5


def test_faithfulness_equals_quantus_faithfulness_estimate(grey):
    model, x, maps = grey
    x, maps = x[:1], maps[:1]   # Quantus forwards one perturbed image at a time: 784 forwards per image
    quantus, kw, target = _quantus_inputs(model, x, maps)
    q = _quiet(lambda: quantus.FaithfulnessEstimate(features_in_step=1, perturb_baseline=0.0,
                                                    disable_warnings=True, display_progressbar=False
                                                    )(**kw, softmax=True))
    pixels = torch.arange(28 * 28)
    deltas = F.single_pixel_deltas(model, x, pixels, torch.zeros_like(x), target=target)
    ours = F.faithfulness(maps, pixels, deltas)
    assert np.abs(np.asarray(q) - ours.numpy()).max() < 1e-4


def test_a_plan_measured_on_a_busy_machine_is_measured_again_when_idle(tmp_path, monkeypatch):
    monkeypatch.setenv("XAIKIT_DATA", str(tmp_path))
    monkeypatch.delenv("XAIKIT_PLAN_BUSY", raising=False)            # the default threshold, not the suite's
    monkeypatch.setattr(models, "_PLANS", {})
    model = models.small_cnn(tuple(range(3)), width=2).eval()
    monkeypatch.setattr(models, "machine_load", lambda: 3.0)            # busy: the sweep is provisional
    busy = models.forward_plan(model, (1, 28, 28), min_s=0.01)
    assert busy.load == 3.0
    monkeypatch.setattr(models, "_PLANS", {})
    monkeypatch.setattr(models, "_BY_MODEL", models.weakref.WeakKeyDictionary())
    assert models.forward_plan(model, (1, 28, 28), min_s=0.01).load == 3.0   # still busy: the saved plan is kept
    monkeypatch.setattr(models, "_PLANS", {})
    monkeypatch.setattr(models, "_BY_MODEL", models.weakref.WeakKeyDictionary())
    monkeypatch.setattr(models, "machine_load", lambda: 0.2)            # idle now: measured again, and kept
    idle = models.forward_plan(model, (1, 28, 28), min_s=0.01)
    assert idle.load == 0.2
    saved = json.loads((tmp_path / "cache" / "throughput" / "plans.json").read_text())
    assert [v["load"] for v in saved.values()] == [0.2]


def test_a_pinned_forward_batch_skips_the_sweep_and_bad_values_are_refused(tmp_path, monkeypatch):
    x = data.load_cifar10("test", n=6, seed=3).images.mean(1, keepdim=True)[..., 2:30, 2:30]
    monkeypatch.setenv("XAIKIT_DATA", str(tmp_path))
    monkeypatch.setenv(models.PIN_ENV, "16")
    model = models.small_cnn(data.CIFAR10_CLASSES).eval()
    with models.count_forward(model) as c:
        plan = models.forward_plan(model, (1, 28, 28))
    assert (plan.batch_size, plan.channels_last, plan.sweep) == (16, False, ()) and c.calls == 0
    assert not (tmp_path / "cache" / "throughput" / "plans.json").exists()   # nothing timed, nothing saved
    assert torch.allclose(models.logits(model, x), models.logits(model, x, batch_size=2), atol=1e-6)
    for bad in ("0", "6", "-4", "sixteen"):
        monkeypatch.setenv(models.PIN_ENV, bad)
        with pytest.raises(ValueError, match="XAIKIT_FORWARD_BATCH"):
            models.forward_plan(models.small_cnn(data.CIFAR10_CLASSES).eval(), (1, 28, 28))

