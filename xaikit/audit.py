"""Audit the saliency maps of your own model through the five lenses the notebooks reproduce.

Every lens is configured once and called the same way,

    lens = audit.Faithfulness("aopc_morf")
    result = lens(model, images, targets=None, maps=None, method=["gradient", "grad_cam"])

on an `ImageClassifier` (`models.wrap` makes one of any `nn.Module`), images (N, C, H, W) in [0, 1] or a
`data.Data` (its names become the image ids), targets (default: the model's predicted class), and either
precomputed maps {label: (N, C, H, W)} or method names computed through `attribution.attribute(...,
cache=True)` ({label: name}, {label: (name, params)} and plain lists of names all work). It returns a
`LensResult`: one value per image and method (`per_image`, a DataFrame image id x method; NaN where the metric
is undefined for an image), and per method a 95% interval over images (`summary`, `stats.Interval`), with what
a good value is and, where the lens has one, the reference a method must beat (`reading` grades it with the
kit's one rule, `stats.verdict`).

The lenses are thin wrappers over the functions the per-paper notebooks use; nothing is re-implemented here:
- `AugmentationRobustness` (notebook 01, Erdem & Mazurek 2021): SSIM of each map with the map of the rotated
  (or G'MIC-filtered) image, the base map rotated like the image, pooled-max data range, over the pairs whose
  prediction moves by < 0.05 (`augmentation.augmented_batch`, `kept_pairs`, `pair_ssims`); per image the mean
  over its kept pairs.
- `Faithfulness` (02, Tomsett et al. 2020): AOPC under MoRF or LeRF deletion minus the same image's AOPC under
  random deletion orders (`faithfulness.pixel_order`/`region_order`, `deletion_curves`, `aopc`,
  `random_baseline`), and the faithfulness correlation F (`single_pixel_deltas`, `faithfulness`).
- `Reliability` (02): Krippendorff's alpha of the images' rankings of the methods under another lens's metric
  (`reliability.rank_methods`, `bootstrap_alpha`, `inter_method`); it takes a `LensResult`.
- `ROAR` (03, Hooker et al. 2019): remove the top pixels of every training and test image, retrain with the
  user's `train_fn(x, y) -> model`, and compare per-image test correctness with a random ranking
  (`roar.ranks`, `roar.modify`).
- `APEM` (04, Valle 2019): eps+ - eps- of the directed perturbation along the relevance and the irrelevance map
  (`apem.relevance_map`, `loss_gradient_sign`, `eps_pair`), searches capped as in `apem` (censored medians).
- `PIC` (05, Kapishnikov et al. 2019): per-image area under the SIC or AIC curve (`pic.pic_image(...,
  cache=True)`), summarised like Table 1 by the area under the per-point median curve (`pic.aggregate`).

`report(results, method)` draws one page per method (its map on an example image and every lens's per-image
values beside the other methods') and returns the table a reviewer wants: lens | metric | estimate [95% CI] |
n | what good means | a plain-language reading.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from . import apem as _apem
from . import attribution, runtime, stats
from . import faithfulness as _faith
from . import pic as _pic
from . import reliability as _rel
from . import roar as _roar
from . import augmentation as _aug
from .models import predicted_class

ROTATIONS = tuple(f"rotate_{a}" for a in _aug.ROTATIONS)    # notebook 01's augmentations, by name
FILTERS = tuple(_aug.FILTERS)                                 # its G'MIC filters (need the `gmic` package)
load_originals = _aug.load_originals                          # full-resolution originals of the ImageNet sample
ALPHA_REFERENCE = 0.667   # Krippendorff (2004): the lowest alpha from which tentative conclusions are drawn


# ------------------------------------------------------------------------------------------- the result

@dataclass
class LensResult:
    """One metric of one lens: `per_image` (DataFrame, image id x method label), `summary` (method ->
    `stats.Interval`, 95% over images), whether higher is better, what good means, and the `reference` a
    method must beat (None: the metric has no natural reference; compare methods)."""
    lens: str
    metric: str
    per_image: pd.DataFrame
    summary: dict
    higher_is_better: bool
    good: str
    reference: float | None = None
    claim: str = ""
    paper: str = ""
    unit: str = "image"
    details: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.lens}.{self.metric}"

    @property
    def methods(self) -> list:
        return list(self.summary)

    def reading(self, method) -> stats.Verdict | None:
        """`stats.verdict` of the method's interval against the reference in the good direction (None when the
        metric has no reference or no image gave a value)."""
        ci = self.summary[method]
        if self.reference is None or not np.isfinite(ci.estimate):
            return None
        return stats.verdict(ci, "greater" if self.higher_is_better else "less", self.reference)

    def plain(self, method) -> str:
        """The reading in words: what the interval says about this method under this lens."""
        ci = self.summary[method]
        if not np.isfinite(ci.estimate):
            return self.details.get("alpha_undefined") or "no image gave a value"
        v = self.reading(method)
        if v is None:
            return "descriptive (no reference): compare the methods"
        word = {"held": "yes", "not held": "no", "inconclusive": "undecided"}.get(v.verdict, v.verdict)
        return f"{word}: {self.claim}"

    def table(self) -> pd.DataFrame:
        rows = []
        for m, ci in self.summary.items():
            v = self.reading(m)
            rows.append(dict(lens=self.lens, metric=self.metric, method=m, estimate=ci.estimate, low=ci.low,
                             high=ci.high, n=ci.n, higher_is_better=self.higher_is_better, good=self.good,
                             reference=self.reference, verdict=v.verdict if v else None, reading=self.plain(m)))
        return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------- inputs

def method_specs(method) -> "OrderedDict[str, tuple[str, dict]]":
    """label -> (attribution method, params) from a name, a list of names, or a dict whose values are a name,
    a (name, params) pair, or a dict with key "method" and the params."""
    if method is None:
        return OrderedDict()
    if isinstance(method, str):
        method = [method]
    if not isinstance(method, dict):
        method = {m: m for m in method}
    out = OrderedDict()
    for label, spec in method.items():
        if isinstance(spec, str):
            name, params = spec, {}
        elif isinstance(spec, dict):
            params = dict(spec)
            name = params.pop("method")
        else:
            name, params = spec
            params = dict(params)
        if name not in attribution.METHODS:
            raise ValueError(f"unknown attribution method {name!r} for {label!r}; known: {sorted(attribution.METHODS)}")
        out[str(label)] = (name, params)
    return out


def compute_maps(model, x: torch.Tensor, targets, method, seed: int = 0, batch_size: int = 16) -> dict:
    """label -> (N, C, H, W) maps of every method in `method` (see `method_specs`), through
    `attribution.attribute(..., cache=True)` (so every lens, and a re-run, shares them)."""
    return OrderedDict((label, attribution.attribute(model, x, targets, name, seed=seed, batch_size=batch_size,
                                                     cache=True, **params))
                       for label, (name, params) in method_specs(method).items())


def _images(images, ids=None) -> tuple[torch.Tensor, list]:
    names = None
    if hasattr(images, "images") and hasattr(images, "labels"):   # a data.Data
        names = list(images.names or [])
        images = images.images
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty (N, C, H, W) tensor in [0, 1] or a data.Data; got "
                         f"{getattr(images, 'shape', type(images))}")
    ids = list(ids) if ids is not None else names if names else [f"image {i}" for i in range(len(images))]
    if len(ids) != len(images) or len(set(map(str, ids))) != len(ids):
        raise ValueError(f"ids must name each of the {len(images)} images once; got {len(ids)} ids")
    return images.detach().float(), [str(i) for i in ids]


def _targets(model, x, targets) -> torch.Tensor:
    if targets is None:
        return predicted_class(model, x)
    t = torch.as_tensor(targets).long().flatten()
    if t.numel() == 1:
        t = t.expand(len(x)).clone()
    if len(t) != len(x):
        raise ValueError(f"targets: one class per image ({len(x)}), got {len(t)}")
    return t


def _check_maps(maps: dict, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
    out = OrderedDict()
    for label, m in (maps or {}).items():
        m = torch.as_tensor(m).detach().float().cpu()
        if m.ndim == 3:
            m = m.unsqueeze(1)
        if m.ndim != 4 or m.shape[0] != x.shape[0] or m.shape[2:] != x.shape[2:]:
            raise ValueError(f"maps[{label!r}] must be (N, C, H, W) like the images {tuple(x.shape)}; "
                             f"got {tuple(m.shape)}")
        if not torch.isfinite(m).all():
            raise ValueError(f"maps[{label!r}] contains NaN or inf")
        out[str(label)] = m
    return out


_MEMO: "OrderedDict[str, object]" = OrderedDict()   # shared baselines (random orders, F's deltas) between lenses


def _memo(key: str, make):
    if key not in _MEMO:
        _MEMO[key] = make()
        while len(_MEMO) > 8:
            _MEMO.popitem(last=False)
    return _MEMO[key]


# ------------------------------------------------------------------------------------------- the lenses

class Lens:
    """Base of the lenses: configured once (`seed`, `n_resamples` of the intervals, `batch_size` of the map
    computations), then called on (model, images, targets=None, maps=None, method=None)."""
    lens = "lens"
    metric = ""
    higher_is_better = True
    good = ""
    reference: float | None = None
    claim = ""
    paper = ""

    def __init__(self, *, seed: int = 0, n_resamples: int = stats.N_RESAMPLES, batch_size: int = 16):
        self.seed, self.n_resamples, self.batch_size = seed, n_resamples, batch_size

    def __call__(self, model, images, targets=None, maps=None, method=None, *, ids=None) -> LensResult:
        model.eval()
        x, ids = _images(images, ids)
        t = _targets(model, x, targets)
        mp = self.maps(model, x, t, maps, method)
        values, details = self.compute(model, x, t, mp)
        return self.result(values, ids, details)

    def maps(self, model, x, t, maps, method) -> dict:
        mp = _check_maps(maps, x)
        for label, m in compute_maps(model, x, t, method, self.seed, self.batch_size).items():
            if label in mp:
                raise ValueError(f"{label!r} is both in maps and in method")
            mp[label] = m
        if not mp:
            raise ValueError("give maps={label: (N, C, H, W) tensor} or method names")
        return mp

    def compute(self, model, x, t, maps) -> tuple[dict, dict]:   # label -> (N,) values, details
        raise NotImplementedError

    def interval(self, v: np.ndarray, label: str, details: dict) -> stats.Interval:
        """95% BCa interval of the mean over the images with a value (`stats.bootstrap`)."""
        v = np.asarray(v, dtype=float)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            return stats.Interval(float("nan"), float("nan"), float("nan"), 0)
        return stats.bootstrap(v, n_resamples=self.n_resamples, seed=self.seed)

    def result(self, values: dict, ids: list, details: dict) -> LensResult:
        per_image = pd.DataFrame({m: np.asarray(v, dtype=float) for m, v in values.items()}, index=ids)
        per_image.index.name = "image"
        summary = OrderedDict((m, self.interval(per_image[m].to_numpy(), m, details)) for m in per_image)
        return LensResult(self.lens, self.metric, per_image, summary, self.higher_is_better, self.good,
                          self.reference, self.claim, self.paper, "image", details)


class AugmentationRobustness(Lens):
    """Notebook 01's measure: per image, the mean SSIM (window 11, pooled-max data range) between the map of
    the image, rotated like it, and the map of each augmented image, over the pairs whose predicted class's
    probability moves by < `threshold` (the same pairs for every method). Maps are recomputed on the
    augmented images, so the lens needs method names, not maps.

    augmentations: names from `augmentation.AUGMENTATIONS` (default: the four rotations; the G'MIC filters
    need the `gmic` package). Call with `originals=[PIL images]` to augment full-resolution originals (as 01
    does) instead of the [0, 1] tensors (converted losslessly to 8-bit images)."""
    lens, metric, higher_is_better = "augmentation", "ssim", True
    good = "1 = the map turns with the image and keeps its structure (the paper's six methods: 0.54 to 0.95)"
    paper = "Erdem & Mazurek 2021 (notebook 01)"

    def __init__(self, augmentations=ROTATIONS,
                 threshold: float = _aug.THRESHOLD, **kw):
        super().__init__(**kw)
        augmentations = tuple(a for a in augmentations if a != "none")
        unknown = [a for a in augmentations if a not in _aug.AUGMENTATIONS]
        if unknown or not augmentations:
            raise ValueError(f"augmentations must be some of {_aug.AUGMENTATIONS[1:]}; got {augmentations}")
        self.augmentations = ("none",) + augmentations
        self.threshold = threshold

    def __call__(self, model, images, targets=None, maps=None, method=None, *, ids=None,
                 originals=None) -> LensResult:
        if maps:
            raise ValueError("the augmentation lens recomputes the maps on every augmented image: pass method "
                             "names (method=...), not maps")
        specs = method_specs(method)
        if not specs:
            raise ValueError("give method names: the maps are computed on the augmented images")
        model.eval()
        x, ids = _images(images, ids)
        if originals is not None and len(originals) != len(x):
            raise ValueError(f"one original per image: {len(originals)} for {len(x)}")
        user_t = None if targets is None else _targets(model, x, targets)
        batches, classes, kept, probs = [], [], [], []
        for i in range(len(x)):
            b = self.batch(x[i], None if originals is None else originals[i])
            p = model.predict(b)
            c = int(p[0].argmax())                    # kept pairs: the class predicted on the unaugmented image
            probs.append(p[:, c])
            kept.append(_aug.kept_pairs(p[:1, c], p[None, 1:, c], self.threshold)[0])
            classes.append(c if user_t is None else int(user_t[i]))
            batches.append(b)

        def maps_of(i, label):
            name, params = specs[label]
            return attribution.attribute(model, batches[i], classes[i], name, seed=self.seed,
                                         batch_size=len(batches[i]), cache=True, **params)

        # pass 1: the pooled maximum |attribution| per method (01's data range); pass 2 reads the maps back
        # from the disk cache instead of holding every augmented map in memory
        pooled = {label: max(max(float(maps_of(i, label).abs().max()) for i in range(len(x))), 1e-30)
                  for label in specs}
        ssim = {label: np.stack([_aug.pair_ssims(maps_of(i, label), self.augmentations, pooled[label])
                                 for i in range(len(x))]) for label in specs}
        kept = torch.stack(kept).numpy()
        values = {label: np.array([s[i][kept[i]].mean() if kept[i].any() else np.nan for i in range(len(x))])
                  for label, s in ssim.items()}
        details = dict(augmentations=list(self.augmentations[1:]), kept=kept, ssim=ssim, data_range=pooled,
                       probs=torch.stack(probs).numpy(), targets=classes, threshold=self.threshold)
        return self.result(values, ids, details)

    def batch(self, image: torch.Tensor, original=None) -> torch.Tensor:
        """The unaugmented image and its augmentations (A, C, H, W), as 01 builds them (`augmented_batch`)."""
        from torchvision.transforms.functional import to_pil_image
        c, h, w = image.shape
        if original is None:
            u8 = (image.clamp(0, 1) * 255).round().to(torch.uint8)
            original = to_pil_image(u8.expand(3, -1, -1) if c == 1 else u8)
        b = _aug.augmented_batch(original.convert("RGB"), self.augmentations, size=min(h, w))
        return b.mean(1, keepdim=True) if c == 1 else b


class Faithfulness(Lens):
    """Notebook 02's perturbation metrics of 2-D maps (`attribution.to_2d(maps, reduce)`):

    metric "aopc_morf": AOPC after `steps` deletions, most relevant first, minus the image's AOPC under
      `n_orders` random deletion orders (> 0: the map finds what the model needs better than chance);
    metric "aopc_lerf": the same, least relevant first (< 0: what the map calls irrelevant is);
    metric "f": faithfulness correlation F between the relevance of `n_pixels` pixels and the drop of the
      output when each is perturbed alone (> 0).
    Deleted pixels take the data set's mean colour (`perturbation="mean"`, default the model's normalisation
    mean) or a random colour ("random"). `patch_size` > 1 deletes whole patches (Samek et al.'s region
    perturbation, `faithfulness.region_order`); default 1 for images up to 64 x 64 (as 02 on CIFAR-10),
    else the largest of 16, 14, 8, 7, 4, 2 dividing both sides. `steps` defaults to 10% of the pixels or
    patches (02: 100 of 1,024)."""
    lens, higher_is_better = "faithfulness", True
    paper = "Tomsett et al. 2020 (notebook 02)"
    METRICS = {
        "aopc_morf": (True, "AOPC (MoRF) minus random-order AOPC > 0: deleting the top of the map lowers the "
                            "output faster than deleting at random",
                      "above random deletion (AOPC MoRF minus random > 0)"),
        "aopc_lerf": (False, "AOPC (LeRF) minus random-order AOPC < 0: deleting the bottom of the map lowers "
                             "the output slower than deleting at random",
                      "below random deletion (AOPC LeRF minus random < 0)"),
        "f": (True, "F > 0: pixels the map calls relevant change the output more when perturbed alone",
              "faithfulness correlation F > 0"),
    }

    def __init__(self, metric: str = "aopc_morf", steps: int | None = None, perturbation: str = "mean",
                 mean=None, patch_size: int | None = None, n_orders: int = 5, n_pixels: int = 100,
                 reduce: str = "sum", **kw):
        super().__init__(**kw)
        if metric not in self.METRICS:
            raise ValueError(f"metric must be one of {sorted(self.METRICS)}, got {metric!r}")
        if perturbation not in _faith.PERTURBATIONS:
            raise ValueError(f"perturbation must be one of {_faith.PERTURBATIONS}, got {perturbation!r}")
        self.metric, self.steps, self.perturbation, self.mean = metric, steps, perturbation, mean
        self.patch_size, self.n_orders, self.n_pixels, self.reduce = patch_size, n_orders, n_pixels, reduce
        self.higher_is_better, self.good, self.claim = self.METRICS[metric]
        self.reference = 0.0

    def patch(self, h: int, w: int) -> int:
        if self.patch_size:
            return int(self.patch_size)
        if h * w <= 64 * 64:
            return 1
        return next((p for p in (16, 14, 8, 7, 4, 2) if h % p == 0 and w % p == 0), 1)

    def n_steps(self, h: int, w: int) -> int:
        p = self.patch(h, w)
        return int(self.steps) if self.steps else max(1, int(round(0.1 * (h // p) * (w // p))))

    def values(self, model, x: torch.Tensor) -> torch.Tensor:
        """What a deleted pixel becomes (`faithfulness.replacement`)."""
        mean = self.mean
        if mean is None and self.perturbation == "mean":
            norm = getattr(model, "normalize", None)
            mean = norm.mean.flatten().tolist() if norm is not None else x.mean((0, 2, 3)).tolist()
            if len(mean) != x.shape[1]:
                mean = x.mean((0, 2, 3)).tolist()
        return _faith.replacement(x, self.perturbation, mean=mean, seed=self.seed)

    def orders(self, m2: torch.Tensor, order: str, p: int) -> torch.Tensor:
        return _faith.pixel_order(m2, order) if p == 1 else _faith.region_order(m2, p, order)

    def random_aopc(self, model, x, values, t, steps, p) -> torch.Tensor:
        """Each image's AOPC after `steps`, averaged over `n_orders` random orders (the same for every image):
        `faithfulness.random_baseline` for pixels; for patches, random patch orders through `region_order`."""
        def make():
            if p == 1:
                return _faith.random_baseline(model, x, values, self.n_orders, steps, t, seed=self.seed)[
                    "per_image"][:, steps]
            n, _, h, w = x.shape
            g = torch.Generator().manual_seed(self.seed)
            out = []
            for _ in range(self.n_orders):
                r = torch.rand(1, h // p, w // p, generator=g).repeat_interleave(p, 1).repeat_interleave(p, 2)
                order = _faith.region_order(r, p, "morf").expand(n, -1)
                out.append(_faith.aopc(_faith.deletion_curves(model, x, order, values, steps, t,
                                                              pixels_per_step=p * p))[:, steps])
            return torch.stack(out).mean(0)
        key = runtime.digest("random_aopc", model, x, values, t, steps, p, self.n_orders, self.seed)
        return _memo(key, make)

    def compute(self, model, x, t, maps):
        n, c, h, w = x.shape
        values = self.values(model, x)
        m2 = {label: attribution.to_2d(m, self.reduce) for label, m in maps.items()}
        out, details = {}, {}
        if self.metric == "f":
            pixels = _faith.choose_pixels(min(self.n_pixels, h * w), h, w, seed=self.seed)
            key = runtime.digest("deltas", model, x, values, t, pixels)
            deltas = _memo(key, lambda: _faith.single_pixel_deltas(model, x, pixels, values, t))
            for label, m in m2.items():
                out[label] = _faith.faithfulness(m, pixels, deltas).numpy()
            details.update(pixels=pixels.numpy(), n_pixels=len(pixels))
        else:
            p, steps = self.patch(h, w), self.n_steps(h, w)
            order = "morf" if self.metric == "aopc_morf" else "lerf"
            base = self.random_aopc(model, x, values, t, steps, p)
            aopc = {}
            for label, m in m2.items():
                curves = _faith.deletion_curves(model, x, self.orders(m, order, p), values, steps, t,
                                                pixels_per_step=p * p)
                aopc[label] = _faith.aopc(curves)[:, steps].numpy()
                out[label] = aopc[label] - base.numpy()
            details.update(aopc=aopc, random_aopc=base.numpy(), steps=steps, patch_size=p,
                           deleted_fraction=min(1.0, steps * p * p / (h * w)), n_orders=self.n_orders)
        details.update(perturbation=self.perturbation, reduce=self.reduce, targets=t.numpy())
        return out, details


class APEM(Lens):
    """Notebook 04's APEM per image: eps+ - eps-, the smallest L1 size (in [0, 1] image units) of the directed
    perturbation x + eps R / ||R||_1 sign(grad J) that flips the prediction along the irrelevance map 1 - R
    minus along the relevance map R (`apem.relevance_map` step `step`, `loss_gradient_sign`, `eps_pair`).
    The searches look for a flip of the predicted class (so the maps' targets should be it, the default).
    A search with no flip up to `max_eps` is censored: an image whose eps+ is censored has APEM > its
    observed bound and counts as larger than every observed value (`stats.censored_summary`'s median with its
    interval, a bound beyond the cap shown as max_eps + 1, never a mean); an image whose eps- is censored has
    no APEM value (NaN; counted in details["eps_minus_censored"]), as is one whose map is constant. Default search: the authors'
    coarse-to-fine paces up to 10,000 (as 04 on ImageNet); `paces=(1,)` is exact (04 on CIFAR-10)."""
    lens, metric, higher_is_better = "apem", "apem", True
    good = "> 0: perturbing along the relevant pixels flips the prediction sooner than along the irrelevant"
    claim = "median APEM > 0"
    reference = 0.0
    paper = "Valle 2019 (notebook 04)"

    def __init__(self, step: str = "final", max_eps: int = 10000, paces=(1000, 100, 10, 1), **kw):
        super().__init__(**kw)
        if step not in _apem.STEPS:
            raise ValueError(f"step must be one of {_apem.STEPS}, got {step!r}")
        self.step, self.max_eps, self.paces = step, int(max_eps), tuple(paces)

    def compute(self, model, x, t, maps):
        labels = predicted_class(model, x)
        grad_sign = _apem.loss_gradient_sign(model, x, labels)
        out, details = {}, dict(eps_minus={}, eps_plus={}, censored={}, undefined={}, eps_minus_censored={},
                                max_eps=self.max_eps,
                                paces=list(self.paces), step=self.step, labels=labels.numpy())
        for label, m in maps.items():
            ok = np.ones(len(x), dtype=bool)
            try:
                r = _apem.relevance_map(m, x, self.step)
            except ValueError:          # a constant map (e.g. Grad-CAM all zero) has no relevance map
                ok = np.array([bool(m[i].max() > m[i].min()) for i in range(len(x))])
                r = torch.zeros(len(x), 1 if self.step != "clamp" else x.shape[1], *x.shape[2:])
                if ok.any():
                    r[torch.from_numpy(ok)] = _apem.relevance_map(m[ok], x[ok], self.step)
            em = torch.full((len(x),), float("nan"))
            ep = torch.full((len(x),), float("nan"))
            if ok.any():
                k = torch.from_numpy(ok)
                a, b = _apem.eps_pair(model, x[k], r[k], labels[k], grad_sign[k], max_eps=self.max_eps,
                                      paces=self.paces)
                em[k], ep[k] = a.double().float(), b.double().float()
            # eps- beyond the cap: APEM is only bounded (from above, or not at all): no value for that image
            minus_censored = (em > self.max_eps).numpy()
            out[label] = np.where(minus_censored, np.nan, (ep - em).numpy())
            details["eps_minus"][label], details["eps_plus"][label] = em.numpy(), ep.numpy()
            details["censored"][label] = (ep > self.max_eps).numpy()
            details["eps_minus_censored"][label] = int(minus_censored.sum())
            details["undefined"][label] = int((~ok).sum())
        return out, details

    def interval(self, v, label, details) -> stats.Interval:
        v = np.asarray(v, dtype=float)
        ok = np.isfinite(v)
        if not ok.any():
            return stats.Interval(float("nan"), float("nan"), float("nan"), 0)
        s = stats.censored_summary(v[ok], censored=details["censored"][label][ok], n_resamples=self.n_resamples,
                                   seed=self.seed)
        f = lambda q: float(self.max_eps + 1) if q is None else float(q)  # noqa: E731  (as notebook 04)
        return stats.Interval(f(s["median"]), f(s["low"]), f(s["high"]), s["n"],
                              method="percentile", n_resamples=self.n_resamples)   # of the censored median


class PIC(Lens):
    """Notebook 05's performance information curves under PAIR's definition: per image, the area under its
    SIC (softmax, `metric="sic"`; images whose original softmax is below `min_pred_value` are skipped, NaN)
    or AIC curve (top-1 kept, "aic") over the information level of bokeh images that keep the top fraction
    of the 2-D map (`attribution.to_2d(maps, reduce)`). The summary is Table 1's statistic, the area under the
    per-point median curve (`pic.aggregate`), with a percentile interval over resampled images
    (`pic.median_area_resampled`, `n_median_resamples`). PIC uses the class the model predicts on the 8-bit
    image (as PAIR), whatever the targets. RGB images only (WebP)."""
    lens, higher_is_better = "pic", True
    paper = "Kapishnikov et al. 2019 (notebook 05)"
    reference = None

    def __init__(self, metric: str = "sic", thresholds=_pic.THRESHOLDS, mode: str = "rebuild",
                 min_pred_value: float = 0.5, reduce: str = "abs_sum", n_median_resamples: int = 2000, **kw):
        super().__init__(**kw)
        if metric not in ("sic", "aic"):
            raise ValueError(f"metric must be 'sic' or 'aic', got {metric!r}")
        self.metric, self.thresholds, self.mode = metric, tuple(thresholds), mode
        self.min_pred_value, self.reduce, self.n_median_resamples = min_pred_value, reduce, n_median_resamples
        what = "softmax" if metric == "sic" else "top-1 class"
        self.good = (f"1 = a few pixels of the map's top already restore the original's {what}; Table 1 of "
                     "the paper: 0.32 to 0.76")

    def compute(self, model, x, t, maps):
        if x.shape[1] != 3:
            raise ValueError("PIC encodes RGB images as WebP: the images must have 3 channels")
        n, _, h, w = x.shape
        m2 = {label: attribution.to_2d(m, self.reduce) for label, m in maps.items()}
        rows = []
        for i in range(n):
            rnd = _pic.random_mask(h, w, fraction=0.01, seed=self.seed * 100003 + i)
            rows.append(_pic.pic_image(model, x[i], {label: m[i] for label, m in m2.items()},
                                       thresholds=self.thresholds, mode=self.mode, random=rnd, cache=True)[0])
        out, curves = {}, {}
        for label in m2:
            cs = [r.sic(label, self.min_pred_value)[0] if self.metric == "sic" else r.aic(label)[0] for r in rows]
            out[label] = np.array([_pic.area(c) if c is not None else np.nan for c in cs])
            curves[label] = [c for c in cs if c is not None]
        return out, dict(curves=curves, rows=rows, thresholds=list(self.thresholds), mode=self.mode,
                         min_pred_value=self.min_pred_value, reduce=self.reduce)

    def interval(self, v, label, details) -> stats.Interval:
        curves = details["curves"][label]
        if not curves:
            return stats.Interval(float("nan"), float("nan"), float("nan"), 0)
        est = _pic.aggregate(curves)[1]
        c = np.stack(curves)
        idx = np.random.default_rng(self.seed).integers(0, len(c), size=(self.n_median_resamples, len(c)))
        boot = _pic.median_area_resampled(c, idx)
        return stats.percentile_interval(est, boot, len(c), level=stats.LEVEL)

    def difference(self, details, a, b) -> stats.Interval:
        """Area under the median curve of method `a` minus method `b`'s, resampling the same images for both
        (`pic.median_area_difference`; the images with a curve: for SIC the skipped ones are the same for every
        method, they depend on the image only)."""
        ca, cb = (details["curves"][m] for m in (a, b))
        if len(ca) != len(cb):
            raise ValueError(f"{a} and {b} need curves on the same images, got {len(ca)} and {len(cb)}")
        return _pic.median_area_difference(ca, cb, self.n_median_resamples, self.seed)


class ROAR(Lens):
    """Notebook 03's remove-and-retrain, for a model the user can retrain: `train_fn(x, y) -> model` trains a
    fresh model (same architecture and recipe) on [0, 1] images. For each method and fraction t of
    `fractions`, the top t of every training and test image's pixels (|map| summed over channels,
    `roar.ranks`; ties at random) are replaced by the training set's mean colour (`roar.modify`), the model is
    retrained on the modified training set and tested on the equally modified test images (the images the
    lens is called on; `targets` must be their true labels). A random ranking is the baseline. Per image:
    correctness averaged over the fractions, as the baseline's minus the method's (ROAR: > 0 means the map
    removed more of what the model needs than chance) or the method's minus the baseline's (`mode="kar"`:
    keeping the top t). Needs method names, or maps plus `train_maps` for the training images."""
    lens, higher_is_better = "roar", True
    reference = 0.0
    paper = "Hooker et al. 2019, as in Loreth 2023 (notebook 03)"

    def __init__(self, train_fn=None, x_train=None, y_train=None, fractions=(0.1, 0.5, 0.9), mode: str = "roar",
                 unmodified: bool = True, **kw):
        super().__init__(**kw)
        if train_fn is None or x_train is None or y_train is None:
            raise ValueError("ROAR retrains the model: give train_fn(x, y) -> trained model and the training set "
                             "(x_train, y_train); without them this lens cannot run")
        if mode not in _roar.MODES:
            raise ValueError(f"mode must be one of {_roar.MODES}, got {mode!r}")
        self.train_fn, self.x_train, self.y_train = train_fn, x_train.detach().float(), torch.as_tensor(y_train)
        self.fractions, self.mode, self.unmodified = tuple(float(f) for f in fractions), mode, unmodified
        self.metric = f"{mode}_accuracy_gain_vs_random" if mode == "kar" else "roar_accuracy_drop_vs_random"
        self.good = ("> 0: retrained on images without the map's top pixels, the model gets fewer test images "
                     "right than without random pixels" if mode == "roar" else
                     "> 0: retrained on only the map's top pixels, the model gets more test images right than "
                     "on random pixels")
        self.claim = ("accuracy drop beyond random removal > 0" if mode == "roar"
                      else "accuracy gain over random kept pixels > 0")

    def __call__(self, model, images, targets=None, maps=None, method=None, *, ids=None,
                 train_maps=None) -> LensResult:
        if targets is None:
            raise ValueError("ROAR measures accuracy: give targets = the test images' true labels")
        model.eval()
        x, ids = _images(images, ids)
        y = _targets(model, x, targets)
        test_maps = self.maps(model, x, y, maps, method)
        tr = _check_maps(train_maps, self.x_train)
        tr.update(compute_maps(model, self.x_train, self.y_train, method, self.seed, self.batch_size))
        missing = [m for m in test_maps if m not in tr]
        if missing:
            raise ValueError(f"no training-image maps for {missing}: pass them as train_maps or use method names")
        mean = _roar.dataset_mean(self.x_train)
        ranks_te = {m: _roar.ranks(_roar.pixel_scores(v), seed=self.seed) for m, v in test_maps.items()}
        ranks_tr = {m: _roar.ranks(_roar.pixel_scores(tr[m]), seed=self.seed) for m in test_maps}
        n, _, h, w = x.shape
        ranks_te["random"] = _roar.ranks(torch.zeros(n, h, w), seed=self.seed + 1)
        ranks_tr["random"] = _roar.ranks(torch.zeros(len(self.x_train), h, w), seed=self.seed + 2)
        correct, accuracy = {}, {}
        for m in ranks_te:
            rows = []
            for f in self.fractions:
                net = self.train_fn(_roar.modify(self.x_train, ranks_tr[m], f, self.mode, mean), self.y_train)
                pred = _roar.predictions(net, _roar.modify(x, ranks_te[m], f, self.mode, mean))
                rows.append((pred == y).numpy())
                accuracy[m, f] = float(rows[-1].mean())
            correct[m] = np.stack(rows, 1)        # (N, fractions)
        if self.unmodified:
            net = self.train_fn(self.x_train, self.y_train)
            accuracy["unmodified", 0.0] = float((_roar.predictions(net, x) == y).float().mean())
        base = correct.pop("random").mean(1)
        sign = 1.0 if self.mode == "roar" else -1.0
        values = {m: sign * (base - c.mean(1)) for m, c in correct.items()}
        details = dict(correct=correct, random_correct=base, accuracy=accuracy, fractions=list(self.fractions),
                       mode=self.mode, n_train=len(self.x_train), trainings=len(accuracy))
        return self.result(values, ids, details)


class Reliability:
    """Notebook 02's reliability of a metric: do the images rank the methods the same way? Krippendorff's
    alpha (ordinal) of each image's ranking of the methods under another lens's per-image values
    (`reliability.rank_methods`, `bootstrap_alpha`: percentile interval over resampled images), and the mean
    pairwise Spearman rho between the methods' values over images (`inter_method`). Called on a `LensResult`
    with at least two methods; images where a method has no value rank nothing."""
    lens = "reliability"

    def __init__(self, reference: float = ALPHA_REFERENCE, *, seed: int = 0, n_resamples: int = stats.N_RESAMPLES):
        self.reference, self.seed, self.n_resamples = reference, seed, n_resamples

    def __call__(self, result: LensResult) -> LensResult:
        table = result.per_image
        if table.shape[1] < 2:
            raise ValueError(f"{result.name}: reliability needs at least two methods to rank")
        ranks = _rel.rank_methods(table.to_numpy(), result.higher_is_better)
        rated = int((~np.isnan(ranks).any(1)).sum())
        try:
            b = _rel.bootstrap_alpha(ranks, n_resamples=self.n_resamples, seed=self.seed)
            ci, undefined, why = b["ci"], b["undefined"], None
        except ValueError as e:    # fewer than two rating images, or every rank tied: alpha is undefined
            ci = stats.Interval(float("nan"), float("nan"), float("nan"), rated, method="percentile")
            undefined, why = self.n_resamples, str(e)
        inter = _rel.inter_method(table.to_numpy())
        per_image = pd.DataFrame(ranks, index=table.index, columns=table.columns)
        return LensResult(
            "reliability", f"alpha[{result.name}]", per_image, OrderedDict([("all methods", ci)]), True,
            f"alpha near 1: every image ranks the methods alike under {result.name}; alpha < "
            f"{self.reference:g} (Krippendorff) is too inconsistent to rank methods by this metric",
            self.reference, f"the images rank the methods consistently (alpha > {self.reference:g})",
            "Tomsett et al. 2020 (notebook 02)", "image",
            dict(of=result.name, inter_method=inter["mean"],
                 pairs={f"{table.columns[i]} / {table.columns[j]}": r for (i, j), r in inter["pairs"].items()},
                 undefined_resamples=undefined, images_ranking=rated, alpha_undefined=why))


# ------------------------------------------------------------------------------------------- the report

def summary_table(results) -> pd.DataFrame:
    """Every lens result's table, one row per (lens, metric, method)."""
    return pd.concat([r.table() for r in results], ignore_index=True)


def method_table(results, method) -> pd.DataFrame:
    """The reviewer's table for one method: lens | metric | estimate [95% CI] | n | what good means | reading.
    Reliability rows (about all methods together) are added for every method."""
    rows = []
    for r in results:
        key = method if method in r.summary else ("all methods" if r.lens == "reliability" else None)
        if key is None:
            continue
        ci = r.summary[key]
        est = (f"{ci.estimate:.3g} [{ci.low:.3g}, {ci.high:.3g}]" if np.isfinite(ci.estimate) else "n/a")
        rows.append({"lens": r.lens, "metric": r.metric, "estimate [95% CI]": est, "n": ci.n,
                     "what good means": r.good, "reading": r.plain(key)})
    return pd.DataFrame(rows)


YLABELS = {"augmentation": {"ssim": "mean SSIM over the image's kept pairs"},
           "faithfulness": {"aopc": "AOPC minus random-order AOPC", "f": "F (Pearson r)"},
           "apem": {"apem": "eps+ - eps- (symlog)"},
           "pic": {"sic": "area under the image's SIC", "aic": "area under the image's AIC"},
           "roar": {"roar": "accuracy drop beyond random", "kar": "accuracy gain over random"}}


def report(results, method, *, image: torch.Tensor | None = None, map: torch.Tensor | None = None,
           title: str | None = None, path=None):
    """One page for `method`: its map on an example image (if given) and, per lens, every image's value for
    every method (this one in red, the others grey; beside them the estimate and its 95% interval; dashed: the
    reference), then the
    table of `method_table`. Returns (figure, table); with `path` the figure is saved (`plots.save`)."""
    from . import plots
    shown = [r for r in results if method in r.summary]
    if not shown:
        raise ValueError(f"no lens result has method {method!r}")
    panels = len(shown) + (2 if image is not None else 0)
    cols = min(4, panels)
    rows = -(-panels // cols)
    fig, axes = plots.plt.subplots(rows, cols, figsize=(3.4 * cols, 3.3 * rows), squeeze=False)
    k = 0
    if image is not None:
        plots.image(axes.flat[0], image, "example image")
        if map is not None:
            m2 = attribution.to_2d(map[None] if map.ndim == 3 else map, "sum")[0]
            plots.heatmap(axes.flat[1], m2, f"{method}: map (channel sum)", signed=bool(m2.min() < 0))
        else:
            axes.flat[1].set_axis_off()
        k = 2
    for r in shown:
        ax = axes.flat[k]
        k += 1
        order = list(r.summary)
        rng = np.random.default_rng(0)
        for j, m in enumerate(order):
            v = r.per_image[m].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            ax.scatter(j - 0.12 + rng.uniform(-0.12, 0.12, len(v)), v, s=7, alpha=0.7, lw=0,
                       color="tab:red" if m == method else "0.55", zorder=3)
            ci = r.summary[m]
            if np.isfinite(ci.estimate):
                ax.errorbar(j + 0.2, ci.estimate, yerr=[[ci.estimate - ci.low], [ci.high - ci.estimate]], fmt="D",
                            color="black", ms=4, capsize=3, zorder=5)
        if not r.per_image.notna().any().any():
            ax.text(0.5, 0.5, "no image gave a value", ha="center", va="center", transform=ax.transAxes,
                    fontsize=8, color="0.4")
        ax.set_xticks(range(len(order)), order)
        ax.set_xlim(-0.6, len(order) - 0.4)
        if r.reference is not None:
            ax.axhline(r.reference, color="black", ls="--", lw=0.8)
        ax.set_xlabel("")
        ax.tick_params(axis="x", labelrotation=35, labelsize=7)
        for lab in ax.get_xticklabels():
            lab.set_ha("right")
            if lab.get_text() == method:
                lab.set_color("tab:red")
        ci = r.summary[method]
        better = "higher" if r.higher_is_better else "lower"
        stat = "median" if r.lens == "apem" else "median-curve area" if r.lens == "pic" else "mean"
        ax.set_title(f"{r.lens}: {r.metric}\n({better} is better; n = {ci.n}; bar: {stat} [95% CI])", fontsize=8)
        ax.set_ylabel(YLABELS.get(r.lens, {}).get(r.metric.split("_")[0], "value per image"), fontsize=8)
        if r.lens == "apem":
            ax.set_yscale("symlog", linthresh=10)
    for ax in axes.flat[k:]:
        ax.set_axis_off()
    fig.suptitle(title or f"Reliability report: {method}", fontsize=11)
    fig.tight_layout()
    table = method_table(results, method)
    if path is not None:
        plots.save(fig, path)
    return fig, table


def run(model, images, method, lenses, targets=None, *, ids=None, reliability: bool = True, **kw) -> list:
    """Every lens on the same model, images and methods (the maps computed once, shared through the disk
    cache), then `Reliability` of every per-image metric with two or more methods. Extra keyword arguments go
    to the lenses whose call takes them (`originals=` for the augmentation lens)."""
    out = []
    for lens in lenses:
        extra = {k: v for k, v in kw.items() if k in lens.__call__.__code__.co_varnames}
        out.append(lens(model, images, targets, method=method, ids=ids, **extra))
    if reliability:
        out += [Reliability(seed=getattr(lenses[0], "seed", 0))(r) for r in list(out) if r.per_image.shape[1] >= 2]
    return out
