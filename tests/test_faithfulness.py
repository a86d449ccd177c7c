"""xaikit.faithfulness: AOPC (MoRF/LeRF) deletion curves, the random-ordering baseline and faithfulness F.

A seeded, untrained CIFAR CNN on real CIFAR-10 test images: the identities tested do not need a trained model.
"""
import numpy as np
import pytest
import torch
from scipy import stats

from _checks import F32
from xaikit import attribution, data, models
from xaikit import faithfulness as F

MEAN = (0.4914, 0.4822, 0.4465)


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = models.cifar_cnn(data.CIFAR10_CLASSES).eval()
    x = data.load_cifar10("test", n=4, seed=0).images
    maps = attribution.to_2d(attribution.attribute(model, x, method="gradient_x_input"), "sum")
    return model, x, maps


def test_zero_steps_change_nothing(setup):
    model, x, maps = setup
    values = F.replacement(x, "random", seed=1)
    order = F.pixel_order(maps, "morf")
    assert torch.equal(F.perturb(x, order, 0, values), x)
    curves = F.deletion_curves(model, x, order, values, steps=5)
    target = F.predicted(model, x)
    assert torch.allclose(curves[:, 0], F.probabilities(model, x, target), **F32)   # other batches: see F32
    assert torch.equal(F.aopc(curves)[:, 0], torch.zeros(len(x), dtype=curves.dtype))
    assert torch.allclose(F.deletion_curves(model, x, order, values, steps=0), curves[:, :1], **F32)


def test_batched_curves_equal_step_by_step(setup):
    model, x, maps = setup
    values = F.replacement(x, "mean", mean=MEAN)
    order = F.pixel_order(maps, "lerf")
    target = F.predicted(model, x)
    curves = F.deletion_curves(model, x, order, values, steps=12, batch_size=1024)
    assert torch.allclose(curves, F.deletion_curves(model, x, order, values, steps=12, batch_size=7), atol=1e-12)
    for k in (1, 5, 12):
        xk = F.perturb(x, order, k, values)
        changed = (xk != x).any(1).flatten(1).sum(1)
        assert changed.tolist() == [k] * len(x)  # exactly k pixel positions, all channels
        assert torch.allclose(curves[:, k], F.probabilities(model, xk, target), atol=1e-12)
    # AOPC by hand: (1/(L+1)) sum_{k=1..L} f0 - fk
    a = F.aopc(curves)
    for L in (1, 7, 12):
        assert torch.allclose(a[:, L], (curves[:, :1] - curves[:, 1:L + 1]).sum(1) / (L + 1))


def test_forward_count_is_one_image_per_step(setup):
    model, x, maps = setup
    values = F.replacement(x, "mean", mean=MEAN)
    with models.count_forward(model) as c:
        F.deletion_curves(model, x, F.pixel_order(maps), values, steps=9, target=torch.zeros(len(x)).long())
    assert c.images == len(x) * 10


def test_orders_are_most_and_least_relevant_first():
    m = torch.tensor([[[0.0, 3.0], [-2.0, 1.0]]])
    assert F.pixel_order(m, "morf").tolist() == [[1, 3, 0, 2]]
    assert F.pixel_order(m, "lerf").tolist() == [[2, 0, 3, 1]]


def test_mean_perturbation_is_zero_after_standardisation(setup):
    model, x, _ = setup
    v = F.replacement(x, "mean", mean=tuple(model.normalize.mean.flatten().tolist()))
    assert model.normalize(v).abs().max() < 1e-6
    r = F.replacement(x, "random", seed=3)
    assert torch.equal(r, F.replacement(x, "random", seed=3)) and not torch.equal(r, F.replacement(x, "random", seed=4))
    assert 0 <= r.min() and r.max() <= 1


def test_random_ordering_lies_within_random_baseline(setup):
    model, x, _ = setup
    values = F.replacement(x, "random", seed=2)
    base = F.random_baseline(model, x, values, n_orders=25, steps=6, seed=0)
    assert base["per_order"].shape == (25, 7) and base["per_image"].shape == (len(x), 7)
    assert torch.all(base["lo"] <= base["mean"]) and torch.all(base["mean"] <= base["hi"])
    # a fresh random ordering (the 'random' attribution method ranked MoRF) scores like the baseline
    rnd = attribution.to_2d(attribution.attribute(model, x, method="random", seed=123), "sum")
    a = F.aopc(F.deletion_curves(model, x, F.pixel_order(rnd), values, steps=6)).mean(0)
    assert base["lo"][6] <= a[6] <= base["hi"][6]
    assert torch.equal(base["orders"], F.random_orders(25, 32 * 32, seed=0))  # seeded orderings
    assert all(sorted(o.tolist()) == list(range(1024)) for o in base["orders"][:3])


def test_single_pixel_deltas_and_faithfulness(setup):
    model, x, maps = setup
    values = F.replacement(x, "random", seed=5)
    pixels = F.choose_pixels(15, 32, 32, seed=0)
    assert len(set(pixels.tolist())) == 15 and torch.equal(pixels, F.choose_pixels(15, 32, 32, seed=0))
    target = F.predicted(model, x)
    d = F.single_pixel_deltas(model, x, pixels, values, target)
    f0 = F.probabilities(model, x, target)
    for j in (0, 9, 14):
        xi = F.perturb(x, pixels[j].view(1, 1).expand(len(x), 1), 1, values)
        assert torch.allclose(d[:, j], f0 - F.probabilities(model, xi, target), **F32)
    f = F.faithfulness(maps, pixels, d)
    ref = [stats.pearsonr(maps[i].flatten()[pixels].double().numpy(), d[i].numpy()).statistic for i in range(len(x))]
    assert np.allclose(f.numpy(), ref)
    # a map equal to the output drops is perfectly faithful; its negative perfectly unfaithful
    exact = torch.zeros(len(x), 32 * 32, dtype=torch.float64)
    exact[:, pixels] = d
    exact = exact.view(-1, 32, 32)
    assert torch.allclose(F.faithfulness(exact, pixels, d), torch.ones(len(x), dtype=torch.float64))
    assert torch.allclose(F.faithfulness(-exact, pixels, d), -torch.ones(len(x), dtype=torch.float64))
    # constant relevance: F undefined
    assert F.faithfulness(torch.ones(len(x), 32, 32), pixels, d).isnan().all()


def test_bad_input_raises(setup):
    model, x, maps = setup
    values = F.replacement(x, "mean", mean=MEAN)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError):
        F.deletion_curves(model, bad, F.pixel_order(maps), values, 3)
    with pytest.raises(ValueError):
        F.pixel_order(maps[:, None], "morf")
    with pytest.raises(ValueError):
        F.pixel_order(maps, "most")
    with pytest.raises(ValueError):
        F.replacement(x, "blur")
    with pytest.raises(ValueError):
        F.replacement(x, "mean")
    with pytest.raises(ValueError):
        F.deletion_curves(model, x, F.pixel_order(maps)[:, :3], values, steps=5)
    with pytest.raises(ValueError):
        F.single_pixel_deltas(model, x, torch.tensor([0, 1024]), values)
    with pytest.raises(ValueError):
        F.faithfulness(maps, torch.arange(3), torch.zeros(len(x), 4))
    with pytest.raises(ValueError):
        F.choose_pixels(0, 32, 32)
