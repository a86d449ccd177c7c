import pytest
import torch
from torch import nn

from xaikit import attribution as A
from xaikit.models import ImageClassifier, efficientnet_lite0


@pytest.fixture(scope="module")
def lite0():
    return efficientnet_lite0()


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(2, 3, 224, 224, generator=g)


def bias_free_net(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Linear(8 * 4 * 4, 16, bias=False), nn.ReLU(), nn.Linear(16, 5, bias=False))
    return ImageClassifier(net, (0.0,) * 3, (1.0,) * 3, "bias_free", [str(i) for i in range(5)], "net.4",
                           "random init", 16).eval()


def logit(model, x, t):
    with torch.no_grad():
        return model(x).gather(1, t[:, None]).squeeze(1)


def test_integrated_gradients_completeness_small_net():
    model = bias_free_net()
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0, 1, 2, 3])
    for base, b in (("black", torch.zeros_like(x)), ("white", torch.ones_like(x))):
        maps = A.attribute(model, x, t, "integrated_gradients", baselines=base, n_steps=200)
        assert torch.allclose(maps.sum((1, 2, 3)), logit(model, x, t) - logit(model, b, t), atol=2e-3, rtol=1e-2)


def test_integrated_gradients_completeness_efficientnet(lite0):
    # A real image (the path from black to noise is too kinky for few steps); measured: 2% off at 64 steps.
    from xaikit.data import load_imagenet_sample
    x = load_imagenet_sample(n=1, start=5).images
    t = torch.tensor([5])
    maps = A.attribute(lite0, x, t, "integrated_gradients", baselines="black", n_steps=64, internal_batch_size=64)
    expected = logit(lite0, x, t) - logit(lite0, torch.zeros_like(x), t)
    assert torch.allclose(maps.sum((1, 2, 3)), expected, rtol=0.05), (maps.sum((1, 2, 3)), expected)


def test_black_white_baseline_is_mean_of_both():
    model = bias_free_net()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    bw = A.attribute(model, x, 1, "integrated_gradients", baselines="black_white", n_steps=20)
    b = A.attribute(model, x, 1, "integrated_gradients", baselines="black", n_steps=20)
    w = A.attribute(model, x, 1, "integrated_gradients", baselines="white", n_steps=20)
    assert torch.allclose(bw, (b + w) / 2, atol=1e-6)


def test_guided_backprop_applies_the_guided_rule_on_efficientnet(lite0, images):
    grad = A.attribute(lite0, images, 1, "gradient")
    guided = A.attribute(lite0, images, 1, "guided_backprop")
    assert not torch.allclose(grad, guided, atol=1e-6)
    # every ReLU6 is a rectifier module Captum hooks: count them
    from xaikit.models import ReLU6
    assert sum(isinstance(m, ReLU6) for m in lite0.modules()) == 33


def test_guided_backprop_is_gradient_when_no_relu():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 14 * 14, 3))
    model = ImageClassifier(net, (0.0,) * 3, (1.0,) * 3, "linear", "abc", "net.0", "init", 16).eval()
    x = torch.rand(2, 3, 16, 16)
    assert torch.allclose(A.attribute(model, x, 0, "guided_backprop"), A.attribute(model, x, 0, "gradient"))


@pytest.mark.parametrize("method", ["lrp_epsilon", "deep_taylor"])
def test_lrp_conserves_relevance_on_bias_free_net(method):
    model = bias_free_net()
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        t = model(x).argmax(1)
    kw = {"epsilon": 1e-9} if method == "lrp_epsilon" else {}
    maps = A.attribute(model, x, t, method, **kw)
    assert torch.allclose(maps.sum((1, 2, 3)), logit(model, x, t), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("method", ["smoothgrad", "gradient_shap", "random", "integrated_gradients"])
def test_same_seed_same_maps(method):
    model = bias_free_net()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    kw = {"baselines": "random"} if method == "integrated_gradients" else {}
    a = A.attribute(model, x, 0, method, seed=7, **kw)
    b = A.attribute(model, x, 0, method, seed=7, **kw)
    c = A.attribute(model, x, 0, method, seed=8, **kw)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_every_method_returns_input_shape(lite0, images):
    fast = {"integrated_gradients": {"n_steps": 4}, "smoothgrad": {"n_samples": 2},
            "smoothgrad_sq": {"n_samples": 2}, "vargrad": {"n_samples": 2}, "gradient_shap": {"n_samples": 2}}
    x = images[:1]
    for name in A.METHODS:
        maps = A.attribute(lite0, x, 3, name, **fast.get(name, {}))
        assert maps.shape == x.shape, name
        assert torch.isfinite(maps).all(), name
        assert maps.abs().sum() > 0, name


def test_batching_does_not_change_maps():
    model = bias_free_net()
    x = torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    a = A.attribute(model, x, 1, "gradient_x_input", batch_size=2)
    b = A.attribute(model, x, 1, "gradient_x_input", batch_size=5)
    assert torch.allclose(a, b, atol=1e-6)


def test_bad_input_gives_clear_errors():
    model = bias_free_net()
    x = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match="unknown attribution method"):
        A.attribute(model, x, 0, "magic")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        A.attribute(model, x[0], 0, "gradient")
    with pytest.raises(TypeError, match="floating-point"):
        A.attribute(model, (x * 255).to(torch.uint8), 0, "gradient")
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        A.attribute(model, bad, 0, "gradient")
    with pytest.raises(ValueError, match="one per image"):
        A.attribute(model, x, [0, 1, 2], "gradient")
    with pytest.raises(ValueError, match="unknown baseline"):
        A.attribute(model, x, 0, "integrated_gradients", baselines="grey")
    with pytest.raises(ValueError, match="unknown reduction"):
        A.to_2d(torch.zeros(1, 3, 4, 4), "median")


def test_reductions():
    m = torch.tensor([[[[1.0]], [[-2.0]], [[0.5]]]])
    assert A.to_2d(m, "sum").item() == pytest.approx(-0.5)
    assert A.to_2d(m, "abs_sum").item() == pytest.approx(3.5)
    assert A.to_2d(m, "max_abs").item() == pytest.approx(2.0)
    n = A.normalize_maps(torch.tensor([[[[2.0, -4.0]]]]))
    assert n.abs().max().item() == pytest.approx(1.0)
