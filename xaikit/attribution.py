"""One attribution API over Captum and Zennit: `attribute(model, x, target, method, **params)`.

Maps always have the input's shape (N, C, H, W) and are taken with respect to the [0, 1] image (the model's
first module normalises). Methods that give one map per pixel (Grad-CAM, Sobel) repeat it over channels.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import torch
from torch import nn

from .models import check_images, forward_plan, num_outputs, predicted_class
from .runtime import cache_dir, digest, save_atomic, seeded, versions

METHODS: dict[str, Callable] = {}
DESCRIPTIONS: dict[str, str] = {}


def method(name: str, description: str):
    def register(fn):
        METHODS[name] = fn
        DESCRIPTIONS[name] = description
        return fn
    return register


def _layer(model, layer):
    if layer is None:
        return model.layer() if hasattr(model, "layer") else _fail("pass layer=... for Grad-CAM on this model")
    if isinstance(layer, str):
        return model.get_submodule(layer)
    return layer


def _fail(msg):
    raise ValueError(msg)


def baseline(kind, x: torch.Tensor, n_random: int = 4) -> torch.Tensor:
    """Baselines for path methods, in [0, 1] image space: 'black', 'white', 'black_white' (2 per image),
    'random' (n_random uniform-noise images per image) or a tensor. Returns (K, N, C, H, W)."""
    if isinstance(kind, torch.Tensor):
        b = kind.to(x)
        b = b.unsqueeze(0) if b.ndim == x.ndim else b  # one baseline, per image or shared
        if b.ndim != x.ndim + 1:
            raise ValueError(f"baseline tensor must be (N|1, C, H, W) or (K, N|1, C, H, W); got {tuple(kind.shape)}")
        return b
    if kind == "black":
        return torch.zeros_like(x).unsqueeze(0)
    if kind == "white":
        return torch.ones_like(x).unsqueeze(0)
    if kind == "black_white":
        return torch.stack([torch.zeros_like(x), torch.ones_like(x)])
    if kind == "random":
        return torch.rand((n_random,) + tuple(x.shape), dtype=x.dtype, device=x.device)
    raise ValueError(f"unknown baseline {kind!r}: use 'black', 'white', 'black_white', 'random' or a tensor")


def _distribution(kind, x, n_random):
    """A baseline distribution (K, C, H, W) for the SHAP methods: a tensor of K images or a baseline name."""
    if isinstance(kind, torch.Tensor):
        if kind.ndim != x.ndim or kind.shape[1:] != x.shape[1:]:
            raise ValueError(f"baseline distribution must be (K, C, H, W) like x; got {tuple(kind.shape)}")
        return kind.to(x)
    return baseline(kind, x[:1], n_random)[:, 0]


def _captum(cls, model, x, target, noise_tunnel=None, **kw):
    algo = cls(model)
    if noise_tunnel:
        from captum.attr import NoiseTunnel
        return NoiseTunnel(algo).attribute(x, target=target, **noise_tunnel, **kw)
    return algo.attribute(x, target=target, **kw)


@method("gradient", "plain gradient of the target logit (signed)")
def _gradient(model, x, target, noise_tunnel=None):
    from captum.attr import Saliency
    return _captum(Saliency, model, x, target, noise_tunnel, abs=False)


@method("saliency", "absolute gradient (Simonyan et al.)")
def _saliency(model, x, target, noise_tunnel=None):
    from captum.attr import Saliency
    return _captum(Saliency, model, x, target, noise_tunnel, abs=True)


@method("gradient_x_input", "gradient times input")
def _gxi(model, x, target, noise_tunnel=None):
    from captum.attr import InputXGradient
    return _captum(InputXGradient, model, x, target, noise_tunnel)


@method("integrated_gradients", "Integrated Gradients; baseline 'black', 'white', 'black_white', 'random' (averaged)")
def _ig(model, x, target, baselines="black", n_steps=50, n_random=4, internal_batch_size=None,
        method="gausslegendre", noise_tunnel=None):
    from captum.attr import IntegratedGradients
    base = baseline(baselines, x, n_random)
    maps = [_captum(IntegratedGradients, model, x, target, noise_tunnel, baselines=b, n_steps=n_steps,
                    internal_batch_size=internal_batch_size, method=method) for b in base]
    return torch.stack(maps).mean(0)


def _smooth(model, x, target, nt_type, noise_level, n_samples, base="gradient"):
    nt = dict(nt_type=nt_type, nt_samples=n_samples, stdevs=float(noise_level))
    return METHODS[base](model, x, target, noise_tunnel=nt)


@method("smoothgrad", "SmoothGrad: mean gradient over noisy copies; noise_level = std as a fraction of [0, 1]")
def _smoothgrad(model, x, target, noise_level=0.15, n_samples=25, base="gradient"):
    return _smooth(model, x, target, "smoothgrad", noise_level, n_samples, base)


@method("smoothgrad_sq", "SmoothGrad-squared: mean of squared gradients over noisy copies")
def _smoothgrad_sq(model, x, target, noise_level=0.15, n_samples=25, base="gradient"):
    return _smooth(model, x, target, "smoothgrad_sq", noise_level, n_samples, base)


@method("vargrad", "VarGrad: variance of gradients over noisy copies")
def _vargrad(model, x, target, noise_level=0.15, n_samples=25, base="gradient"):
    return _smooth(model, x, target, "vargrad", noise_level, n_samples, base)


@method("guided_backprop", "Guided Backpropagation (rectifiers pass only positive gradient)")
def _guided(model, x, target, noise_tunnel=None):
    from captum.attr import GuidedBackprop
    return _captum(GuidedBackprop, model, x, target, noise_tunnel)


@method("deconvolution", "Deconvolution (Zeiler & Fergus): rectifiers pass only positive gradient, ignoring the input")
def _deconvolution(model, x, target, noise_tunnel=None):
    from captum.attr import Deconvolution
    return _captum(Deconvolution, model, x, target, noise_tunnel)


@method("grad_cam", "Grad-CAM at the model's last conv layer (or layer=...), upsampled bilinearly")
def _gradcam(model, x, target, layer=None, relu=True):
    from captum.attr import LayerAttribution, LayerGradCam
    cam = LayerGradCam(model, _layer(model, layer)).attribute(x, target=target, relu_attributions=relu)
    cam = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")
    return cam.expand(-1, x.shape[1], -1, -1)


@method("guided_grad_cam", "Guided Grad-CAM: Guided Backprop times Grad-CAM (layer=... as Grad-CAM)")
def _guided_gradcam(model, x, target, layer=None, noise_tunnel=None):
    from captum.attr import GuidedGradCam
    algo = GuidedGradCam(model, _layer(model, layer))
    if noise_tunnel:
        from captum.attr import NoiseTunnel
        return NoiseTunnel(algo).attribute(x, target=target, **noise_tunnel)
    return algo.attribute(x, target=target)


@method("gradient_shap", "GradientSHAP (expected gradients) against a baseline distribution")
def _gradshap(model, x, target, baselines="random", n_samples=16, stdevs=0.0, n_random=8, noise_tunnel=None):
    from captum.attr import GradientShap
    base = _distribution(baselines, x, n_random)
    # Under a noise tunnel the noise is the tunnel's (its own `stdevs`); GradientShap keeps its default then.
    extra = {} if noise_tunnel else {"stdevs": stdevs}
    return _captum(GradientShap, model, x, target, noise_tunnel, baselines=base, n_samples=n_samples, **extra)


@method("deeplift_shap", "DeepLiftSHAP: DeepLift averaged over a baseline distribution (e.g. training images)")
def _deepliftshap(model, x, target, baselines="black_white", n_random=8):
    from captum.attr import DeepLiftShap
    base = _distribution(baselines, x, n_random)
    if len(base) < 2:
        base = torch.cat([base, base])  # Captum needs at least two baselines
    return DeepLiftShap(model).attribute(x, target=target, baselines=base)


def _zennit(model, x, target, composite):
    """Relevance at the normalised input, returned at the pixels of the [0, 1] image (a one-to-one map)."""
    from zennit.attribution import Gradient
    net, z = (model.net, model.normalize(x)) if hasattr(model, "normalize") else (model, x)
    # Start from R = the target logit (not 1), so relevance sums are in the logit's units.
    with Gradient(model=net, composite=composite) as attributor:
        _, relevance = attributor(z, lambda out: out * torch.nn.functional.one_hot(target, out.shape[1]).to(out))
    return relevance


def _canonizers(model):
    from zennit.torchvision import ResNetCanonizer, SequentialMergeBatchNorm, VGGCanonizer
    name = getattr(model, "name", "")
    if name.startswith("resnet"):
        return [ResNetCanonizer()]
    if name.startswith("vgg"):
        return [VGGCanonizer()]
    return [SequentialMergeBatchNorm()]


def _input_bounds(model, x):
    lo, hi = torch.zeros_like(x[:1]), torch.ones_like(x[:1])
    if hasattr(model, "normalize"):
        lo, hi = model.normalize(lo), model.normalize(hi)
    return lo, hi


@method("lrp_epsilon", "LRP-epsilon on every conv/linear layer (Zennit), BatchNorm merged into the layer before")
def _lrp_eps(model, x, target, epsilon=1.0):
    from zennit.composites import LayerMapComposite
    from zennit.layer import Sum
    from zennit.rules import Epsilon, Norm, Pass
    from zennit.types import Activation, AvgPool, Convolution, Linear
    layer_map = [(Activation, Pass()), (Sum, Norm()), (AvgPool, Norm()), (Convolution, Epsilon(epsilon=epsilon)),
                 (Linear, Epsilon(epsilon=epsilon))]
    return _zennit(model, x, target, LayerMapComposite(layer_map, canonizers=_canonizers(model)))


@method("deep_taylor", "deep Taylor decomposition: z+ rule on conv/linear layers, z^B (box) on the first (Zennit)")
def _deep_taylor(model, x, target):
    from zennit.composites import SpecialFirstLayerMapComposite
    from zennit.layer import Sum
    from zennit.rules import Norm, Pass, ZBox, ZPlus
    from zennit.types import Activation, AvgPool, Convolution, Linear
    lo, hi = _input_bounds(model, x)
    layer_map = [(Activation, Pass()), (Sum, Norm()), (AvgPool, Norm()), (Convolution, ZPlus()), (Linear, ZPlus())]
    first = [(Convolution, ZBox(low=lo, high=hi)), (Linear, ZBox(low=lo, high=hi))]
    return _zennit(model, x, target, SpecialFirstLayerMapComposite(layer_map, first, canonizers=_canonizers(model)))


@method("sobel", "Sobel edge magnitude of the grey image (baseline: ignores the model)")
def _sobel(model, x, target):
    from skimage.filters import sobel
    grey = x.mean(1).detach().cpu().numpy()
    edges = torch.from_numpy(np.stack([sobel(g) for g in grey])).to(x)
    return edges.unsqueeze(1).expand(-1, x.shape[1], -1, -1)


@method("random", "uniform random values (baseline: ignores model and image)")
def _random(model, x, target):
    return torch.rand_like(x)


MODEL_FREE = {"sobel", "random"}


def _check_input(model, x):
    check_images(model, x)


def _targets(model, x, target, batch_size) -> torch.Tensor:
    if target is None:
        return predicted_class(model, x, batch_size)
    t = torch.as_tensor(target).flatten()
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"target must be integer class indices; got {t.dtype}")
    t = t.long()
    if t.numel() == 1:
        t = t.expand(len(x))
    if t.numel() != len(x):
        raise ValueError(f"target must be one class or one per image; got {t.numel()} for {len(x)} images")
    k = num_outputs(model)
    if k is None:  # an unknown head: ask the model once
        with torch.no_grad():
            k = model(x[:1].to(next(model.parameters()).device)).shape[1]
    bad = t[(t < 0) | (t >= k)]
    if len(bad):
        raise ValueError(f"target index {int(bad[0])} is out of range: the model has {k} outputs (0..{k - 1})")
    return t.clone()


# Notices Captum prints on every call; they describe what the method does by design, not a problem.
_HARMLESS_WARNINGS = (r"Setting backward hooks on ReLU activations",
                      r"Setting forward, backward hooks and attributes on non-linear")


def uses_channels_last(model, x: torch.Tensor, method: str) -> bool:
    """Whether `attribute` runs `method` on images like x in channels-last format (the model's forward plan; never
    for the model-free methods). It moves gradients in their last bits, so caches of maps key on it."""
    return method not in MODEL_FREE and forward_plan(model, tuple(x.shape[1:])).channels_last


def attribute(model: nn.Module, x: torch.Tensor, target=None, method: str = "gradient", *, batch_size: int = 16,
              seed: int | None = 0, cache: bool = False, **params) -> torch.Tensor:
    """Attribution maps of `method` for images x (N, C, H, W) in [0, 1] and classes `target`.

    target: an int, one int per image, or None for the predicted class. Bad input raises a clear error: images
    not in [0, 1] (e.g. 0..255), a channel count the model does not take, a target index out of range, an empty
    batch, NaN, an unknown method. Runs in batches of `batch_size` on the model's device, in the memory format
    its `models.forward_plan` found fastest; random methods draw from `seed` (same seed, same maps). Extra
    `params` go to the method (see `METHODS[method]`'s signature). Returns a CPU float tensor of x's shape.

    cache=True keeps the maps in data/cache/maps under a content hash of everything they depend on (weights,
    images, targets, method, params, seed, batch size, memory format, library versions and this module's
    source), so notebooks and re-runs share them and a changed input never reads a stale file.
    """
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; known: {sorted(METHODS)}")
    _check_input(None if method in MODEL_FREE else model, x)
    fn = METHODS[method]
    dev = next(model.parameters()).device
    model.eval()
    t = _targets(model, x, target, batch_size)
    channels_last = uses_channels_last(model, x, method)
    path = None
    if cache:
        key = digest(model, x, t, method, params, seed, batch_size, channels_last, versions(), _source_digest())
        path = cache_dir("maps") / f"{method}_{key}.pt"
        if path.is_file():
            return torch.load(path, weights_only=True)
    out = []
    with seeded(seed), warnings.catch_warnings():
        for pattern in _HARMLESS_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern, category=UserWarning)
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(dev)
            tb = t[i:i + batch_size].to(dev)
            if method not in MODEL_FREE:
                fmt = torch.channels_last if channels_last else torch.contiguous_format
                xb = xb.clone(memory_format=fmt).requires_grad_(True)
            out.append(fn(model, xb, tb, **params).detach().float().cpu().contiguous())
    maps = torch.cat(out)
    if maps.shape != x.shape:
        maps = maps.expand_as(x).contiguous()
    if not torch.isfinite(maps).all():
        hint = " (try a larger epsilon)" if method == "lrp_epsilon" else ""
        raise FloatingPointError(f"{method} returned NaN or inf attributions{hint}")
    if path is not None:
        save_atomic(maps, path)
    return maps


def _source_digest() -> str:
    """This module's and xrai's source: a change to how a method is computed invalidates cached maps."""
    from pathlib import Path
    return digest(*(Path(__file__).with_name(f).read_text() for f in ("attribution.py", "xrai.py")))


def to_2d(maps: torch.Tensor, how: str = "sum") -> torch.Tensor:
    """Reduce (N, C, H, W) maps to (N, H, W): 'sum', 'abs_sum', 'max_abs' (channel max of |a|) or 'mean'."""
    if maps.ndim != 4:
        raise ValueError(f"maps must be (N, C, H, W); got {tuple(maps.shape)}")
    if how == "sum":
        return maps.sum(1)
    if how == "abs_sum":
        return maps.abs().sum(1)
    if how == "max_abs":
        return maps.abs().amax(1)
    if how == "mean":
        return maps.mean(1)
    raise ValueError(f"unknown reduction {how!r}: use 'sum', 'abs_sum', 'max_abs' or 'mean'")


def normalize_maps(maps: torch.Tensor, how: str = "max_abs") -> torch.Tensor:
    """Scale each map: 'max_abs' to [-1, 1] by its largest |value|, 'minmax' to [0, 1]."""
    flat = maps.flatten(1)
    if how == "max_abs":
        scale = flat.abs().amax(1).clamp_min(1e-12)
        return (flat / scale[:, None]).view_as(maps)
    if how == "minmax":
        lo, hi = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
        return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view_as(maps)
    raise ValueError(f"unknown normalisation {how!r}: use 'max_abs' or 'minmax'")

