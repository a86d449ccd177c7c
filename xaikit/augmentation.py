"""Attribution SSIM under real-world augmentations (Erdem & Mazurek 2021, "Don't Augment Me"); formerly `robustness`.

Augmentations run on the full-resolution original before Resize/CenterCrop, as the authors' code does: four PIL
rotations and five G'MIC filters through the real G'MIC library (PyPI `gmic`). The base attribution is rotated
like the image (scipy, cubic, zero fill) and compared by SSIM (scikit-image, window 11, per-channel mean) on the
signed H x W x 3 maps; a pair counts only where the original-predicted class probability moves by < 0.05.

Two controls read an augmentation's SSIM against what the measurement itself costs: the noise floor (each
stochastic method re-run on the unaugmented image with a fresh seed) and, for rotations, the interpolation floor
(the base map rotated by +theta and back by -theta, no model involved). SSIM is computed for four choices of
`data_range` at once (`DATA_RANGES`), since only SSIM's two constants depend on it.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import attribution
from .data import IMAGENET_SAMPLE_DIR, data_root
from .models import IMAGENET_MEAN, IMAGENET_STD

ROTATIONS = (-30, -15, 15, 30)
# The paper's parameters as G'MIC command arguments (commands as in the authors' code; see the notebook for the
# mapping of every argument).
FILTERS = {
    "freaky_details": "fx_freaky_details 2,10,1,11,0,32,0",
    "normalize_local": "normalize_local 8,10",
    "boost_chroma": "fx_boost_chroma 90,0,0",
    "mighty_details": "fx_mighty_details 25,1,25,1,11,0",
    "sharpen": "sharpen 300",
}
AUGMENTATIONS = ("none",) + tuple(f"rotate_{a}" for a in ROTATIONS) + tuple(FILTERS)
THRESHOLD = 0.05


NEAR_ZERO = 0.01   # a map value below 1% of the data_range counts as "close to 0" (Fig. 2's edge-map reading)

def angle(aug: str) -> float:
    """The rotation angle of an augmentation name (0 for 'none' and the filters)."""
    if aug in ("none",) or aug in FILTERS:
        return 0.0
    if aug.startswith("rotate_"):
        return float(aug[len("rotate_"):])
    raise ValueError(f"unknown augmentation {aug!r}; known: {AUGMENTATIONS}")


# ---------------------------------------------------------------- images

def load_originals(names, root: Path | None = None) -> list[Image.Image]:
    """The full-resolution RGB originals of the offline ImageNet sample, by the `names` that
    `data.load_imagenet_sample` returns."""
    d = Path(root or data_root()) / IMAGENET_SAMPLE_DIR
    out = []
    for n in names:
        p = d / n
        if not p.is_file():
            raise FileNotFoundError(f"original image {p} not found; run `make data` (seeds {IMAGENET_SAMPLE_DIR})")
        out.append(Image.open(p).convert("RGB"))
    return out


def sample_index(class_names, root: Path | None = None) -> list[int]:
    """Positions in the sorted file list (`data.load_imagenet_sample(index=...)`) of the offline sample files of
    these class names, e.g. 'daisy' for n11939491_daisy.JPEG (exact, case-sensitive: 'Cardigan' is the corgi,
    'cardigan' the sweater)."""
    d = Path(root or data_root()) / IMAGENET_SAMPLE_DIR
    files = sorted(f.name for f in d.glob("*.JPEG"))
    out = []
    for c in class_names:
        hits = [i for i, f in enumerate(files) if f.split("_", 1)[1][:-len(".JPEG")] == c]
        if len(hits) != 1:
            raise ValueError(f"class name {c!r} matches {len(hits)} files in {d}")
        out += hits
    return out


def sample_files(class_names, root: Path | None = None) -> list[str]:
    """The offline sample's file names of these class names (see `sample_index`), for `load_originals`."""
    d = Path(root or data_root()) / IMAGENET_SAMPLE_DIR
    files = sorted(f.name for f in d.glob("*.JPEG"))
    return [files[i] for i in sample_index(class_names, root)]


def gmic_filter(img: Image.Image, command: str) -> Image.Image:
    """Run one G'MIC command on an RGB image (values 0..255), returned as 8-bit RGB like a saved file."""
    import gmic
    a = np.asarray(img.convert("RGB"), dtype=np.float32)
    images = gmic.ImageList([gmic.Image.from_yxc(a.copy())])
    gmic.Gmic().run(command, images)
    out = np.asarray(images[0].yxc, dtype=np.float32)
    if out.shape != a.shape:
        raise RuntimeError(f"G'MIC '{command}' returned shape {out.shape}, expected {a.shape}")
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))


def rotate_image(img: Image.Image, degrees: float) -> Image.Image:
    """PIL rotation counter-clockwise, nearest neighbour, same size, black corners (as the authors)."""
    return img.rotate(degrees, resample=Image.NEAREST, expand=False, fillcolor=(0, 0, 0))


def augment(img: Image.Image, aug: str) -> Image.Image:
    if aug == "none":
        return img
    if aug in FILTERS:
        return gmic_filter(img, FILTERS[aug])
    return rotate_image(img, angle(aug))


def to_input(img: Image.Image, size: int = 224) -> torch.Tensor:
    """Resize (shorter side) and centre-crop to `size`, [0, 1] tensor (C, H, W): the authors' test transform."""
    from torchvision.transforms import functional as TF
    img = TF.resize(img, size, interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    return TF.to_tensor(TF.center_crop(img, size))


def augmented_batch(img: Image.Image, augmentations=AUGMENTATIONS, size: int = 224) -> torch.Tensor:
    """All variants of one original as one batch (A, 3, size, size); 'none' should come first."""
    unknown = [a for a in augmentations if a not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentations {unknown}; known: {AUGMENTATIONS}")
    return torch.stack([to_input(augment(img, a), size) for a in augmentations])


def rotate_maps(maps: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate (N, C, H, W) maps counter-clockwise in the image plane like `rotate_image` (scipy, cubic,
    reshape=False, zero fill): the authors' rotation of the base attribution."""
    from scipy import ndimage
    if maps.ndim != 4:
        raise ValueError(f"maps must be (N, C, H, W); got {tuple(maps.shape)}")
    if degrees == 0:
        return maps.clone()
    arr = maps.detach().cpu().numpy()
    # axes (3, 2) = (x, y): positive angles turn counter-clockwise on screen, as PIL does.
    out = ndimage.rotate(arr, degrees, axes=(3, 2), reshape=False, order=3, mode="constant", cval=0.0)
    return torch.from_numpy(np.ascontiguousarray(out)).to(maps.dtype)


@lru_cache(maxsize=64)
def rotation_mask(size: int, degrees: float) -> torch.Tensor:
    """(size, size) bool: pixels that stay inside the rotated crop (the corners rotation leaves empty are False).
    Approximate: the crop itself is rotated, while the authors rotate the full-resolution image. Cached: do not
    modify the tensor returned."""
    ones = torch.ones(1, 1, size, size)
    return rotate_maps(ones, degrees)[0, 0] > 0.5


# ---------------------------------------------------------------- SSIM and the kept-pair filter

# The four choices of SSIM's data_range compared in the notebook. The authors' code reads one constant per
# (model, method, dataset) from a table of maximum attribution values (MAX_ATT_VALUES in data/datasets.py of
# burnpiro/xai-correlation): the pooled maximum.
DATA_RANGES = {
    "pooled_max": "max |attribution| over the whole experiment (all images and variants; the authors' choice)",
    "image_max": "max |attribution| over the image's own ten variants",
    "pair_max": "max |attribution| over the two maps of the pair",
    "pooled_p99": "99th percentile of |attribution| over the whole experiment",
}


def attribution_ssim(a: torch.Tensor, b: torch.Tensor, data_range: float, win_size: int = 11,
                     mask: torch.Tensor | None = None) -> float:
    """SSIM of two signed (C, H, W) maps: scikit-image, window `win_size`, mean over channels.

    data_range: the experiment's maximum attribution value (the paper's choice). With `mask` (H, W) the SSIM
    map is averaged over the masked pixels only."""
    from skimage.metrics import structural_similarity
    _check_pair(a, b)
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    x, y = a.double().numpy(), b.double().numpy()
    if mask is None:
        return float(structural_similarity(x, y, win_size=win_size, data_range=data_range, channel_axis=0))
    _, full = structural_similarity(x, y, win_size=win_size, data_range=data_range, channel_axis=0, full=True)
    return float(full.mean(0)[mask.numpy()].mean())


def _check_pair(a, b):
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"need two (C, H, W) maps of one shape; got {tuple(a.shape)} and {tuple(b.shape)}")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise ValueError("attribution maps contain NaN or inf")


def ssim_many(a: torch.Tensor, b: torch.Tensor, data_ranges, win_size: int = 11,
              mask: torch.Tensor | None = None) -> np.ndarray:
    """`attribution_ssim` for several data ranges at once: the window statistics are computed once, since only
    SSIM's constants C1 = (0.01 R)^2 and C2 = (0.03 R)^2 depend on the range R. Same formula as scikit-image
    (uniform window, sample covariance, border of (win_size - 1) / 2 cropped before the mean; with `mask` the
    uncropped map is averaged over the masked pixels). Returns one SSIM per range."""
    from scipy.ndimage import uniform_filter
    _check_pair(a, b)
    r = np.asarray(data_ranges, dtype=np.float64).ravel()
    if not (r > 0).all():
        raise ValueError(f"data ranges must be > 0, got {r}")
    x, y = a.double().numpy(), b.double().numpy()
    f = lambda v: uniform_filter(v, size=(1, win_size, win_size))
    ux, uy = f(x), f(y)
    cov = win_size ** 2 / (win_size ** 2 - 1)
    vx, vy, vxy = cov * (f(x * x) - ux * ux), cov * (f(y * y) - uy * uy), cov * (f(x * y) - ux * uy)
    m, v = 2 * ux * uy, 2 * vxy
    sm, sv = ux ** 2 + uy ** 2, vx + vy
    pad = (win_size - 1) // 2
    sel = (slice(None), slice(pad, -pad or None), slice(pad, -pad or None))
    out = np.empty(len(r))
    for k, R in enumerate(r):
        c1, c2 = (0.01 * R) ** 2, (0.03 * R) ** 2
        s = ((m + c1) * (v + c2)) / ((sm + c1) * (sv + c2))
        # per channel mean, then mean over channels (as scikit-image with channel_axis)
        out[k] = s[sel].reshape(len(s), -1).mean(1).mean() if mask is None else s.mean(0)[mask.numpy()].mean()
    return out


def kept_pairs(p_orig: torch.Tensor, p_aug: torch.Tensor, threshold: float = THRESHOLD) -> torch.Tensor:
    """Which (image, augmentation) pairs count: |p_aug - p_orig| < threshold, where both are probabilities of
    the class predicted on the original. p_orig (N,), p_aug (N, A) -> bool (N, A). Depends on no attribution, so
    every method is scored on the same pairs."""
    p_orig, p_aug = torch.as_tensor(p_orig), torch.as_tensor(p_aug)
    if p_orig.ndim != 1 or p_aug.ndim != 2 or len(p_orig) != len(p_aug):
        raise ValueError(f"need p_orig (N,) and p_aug (N, A); got {tuple(p_orig.shape)} and {tuple(p_aug.shape)}")
    if not (torch.isfinite(p_orig).all() and torch.isfinite(p_aug).all()):
        raise ValueError("probabilities contain NaN or inf")
    return (p_aug - p_orig[:, None]).abs() < threshold


def pair_ssims(maps: torch.Tensor, augmentations, data_range: float, masked: bool = False) -> np.ndarray:
    """SSIM of the base map (augmentations[0] must be 'none') against every augmented map of one image.

    maps (A, C, H, W) in the order of `augmentations`; for rotations the base map is rotated first. Returns (A-1,)
    (the trivial self-pair excluded). masked=True averages only over pixels inside the rotated frame."""
    _check_order(maps, augmentations)
    out = []
    for k, aug in enumerate(augmentations[1:], start=1):
        deg = angle(aug)
        base = rotate_maps(maps[:1], deg)[0]
        mask = rotation_mask(maps.shape[-1], deg) if masked and deg else None
        out.append(attribution_ssim(base, maps[k], data_range, mask=mask))
    return np.array(out)


def _check_order(maps, augmentations):
    if augmentations[0] != "none":
        raise ValueError("augmentations[0] must be 'none' (the base image)")
    if len(maps) != len(augmentations):
        raise ValueError(f"{len(maps)} maps for {len(augmentations)} augmentations")


def round_trip(maps: torch.Tensor, degrees: float) -> torch.Tensor:
    """The maps rotated by +degrees and back by -degrees (scipy, cubic, zero fill): what the rotation of the base
    map costs by interpolation and lost corners alone, with no model involved."""
    return rotate_maps(rotate_maps(maps, degrees), -degrees)


@lru_cache(maxsize=64)
def round_trip_mask(size: int, degrees: float) -> torch.Tensor:
    """(size, size) bool: pixels that survive `round_trip` (inside the frame both ways). Cached: do not modify."""
    return round_trip(torch.ones(1, 1, size, size), degrees)[0, 0] > 0.5


def image_scores(maps: dict, augmentations, pooled: dict, p99: dict, rerun: dict | None = None,
                 rotations=ROTATIONS) -> dict:
    """Every SSIM of one image (the core of `run`): label -> dict(
    pairs (A-1, len(DATA_RANGES)): base (rotated like the image) vs each augmented map, one column per range;
    masked (A-1,): pooled range, rotations averaged over the pixels inside the rotated frame only;
    floor (len(DATA_RANGES),) or None: base vs the same method re-run on the base image with a fresh seed;
    interp (len(rotations),), interp_masked: base vs its round trip +theta, -theta (pooled range);
    image_max: max |attribution| over the image's variants)."""
    out = {}
    for m, mp in maps.items():
        _check_order(mp, augmentations)
        img_max = max(float(mp.abs().max()), 1e-30)
        ranges = lambda a, b: [pooled[m], img_max, max(float(a.abs().max()), float(b.abs().max()), 1e-30), p99[m]]
        rotated = {}
        pairs, masked = [], []
        for k, aug in enumerate(augmentations[1:], start=1):
            deg = angle(aug)
            if deg not in rotated:
                rotated[deg] = rotate_maps(mp[:1], deg)[0]
            base = rotated[deg]
            pairs.append(ssim_many(base, mp[k], ranges(base, mp[k])))
            masked.append(ssim_many(base, mp[k], [pooled[m]], mask=rotation_mask(mp.shape[-1], deg))[0] if deg
                          else pairs[-1][0])
        floor = None
        if rerun is not None and m in rerun:
            floor = ssim_many(mp[0], rerun[m][0], ranges(mp[0], rerun[m][0]))
        interp, interp_masked = [], []
        for deg in rotations:
            rt = round_trip(mp[:1], deg)[0]
            interp.append(ssim_many(mp[0], rt, [pooled[m]])[0])
            interp_masked.append(ssim_many(mp[0], rt, [pooled[m]], mask=round_trip_mask(mp.shape[-1], deg))[0])
        out[m] = dict(pairs=np.array(pairs), masked=np.array(masked), floor=floor, interp=np.array(interp),
                      interp_masked=np.array(interp_masked), image_max=img_max)
    return out


# ---------------------------------------------------------------- attribution methods as the authors ran them

def pixel_stdev() -> float:
    """The authors' noise (std 1.0 in ImageNet-normalised space) in [0, 1] pixel units: mean ImageNet std."""
    return float(np.mean(IMAGENET_STD))


def imagenet_mean_image(like: torch.Tensor) -> torch.Tensor:
    """The image that ImageNet normalisation maps to zero (the authors' IG baseline), shaped like `like`."""
    return torch.tensor(IMAGENET_MEAN, dtype=like.dtype).view(1, -1, 1, 1).expand_as(like).clone()


def shap_baselines(k: int, size: int, seed: int) -> torch.Tensor:
    """k standard-normal images in ImageNet-normalised space, in [0, 1] pixel units (the authors' torch.randn)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn((k, 3, size, size), generator=g)
    return torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) + torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * z


def method_settings(layer: str, nt_samples: int = 8, ig_steps: int = 25, shap_samples: int = 5,
                    shap_nt_samples: int = 5, deconvolution: bool = False) -> dict:
    """The authors' Captum settings as `attribution.attribute` calls: label -> (method, params).

    Saliency, Guided Backprop and Guided Grad-CAM (on `layer`, the first conv) run in Noise Tunnel (SmoothGrad,
    `nt_samples`, std 1.0 normalised); IG without Noise Tunnel (`ig_steps`, baseline = zero in normalised space);
    GradientSHAP in Noise Tunnel (`shap_nt_samples` x `shap_samples`)."""
    sd = pixel_stdev()

    def nt(n):
        return dict(nt_type="smoothgrad", nt_samples=n, stdevs=sd)

    out = {
        "Saliency": ("saliency", dict(noise_tunnel="nt")),
        "Integrated Gradients": ("integrated_gradients", dict(n_steps=ig_steps)),
        "Guided Backprop": ("guided_backprop", dict(noise_tunnel="nt")),
        "Guided Grad-CAM": ("guided_grad_cam", dict(layer=layer, noise_tunnel="nt")),
        "GradientSHAP": ("gradient_shap", dict(n_samples=shap_samples, noise_tunnel="nt_shap")),
    }
    if deconvolution:
        out["Deconvolution"] = ("deconvolution", dict(noise_tunnel="nt"))
    for label, (m, p) in out.items():
        if p.get("noise_tunnel") == "nt":
            p["noise_tunnel"] = nt(nt_samples)
        elif p.get("noise_tunnel") == "nt_shap":
            p["noise_tunnel"] = nt(shap_nt_samples)
    return out


def stochastic(settings: dict) -> list[str]:
    """The labels of `settings` whose maps depend on random draws (Noise Tunnel, GradientSHAP's baselines)."""
    return [label for label, (m, p) in settings.items() if p.get("noise_tunnel") or m == "gradient_shap"]


def passes_per_variant(settings: dict) -> dict:
    """Forward (and backward) passes one variant costs per method under `settings` (Captum's design): a noise
    tunnel multiplies by its samples, IG by its steps, GradientSHAP by n_samples, Guided Grad-CAM runs Grad-CAM
    and Guided Backprop."""
    out = {}
    for label, (m, p) in settings.items():
        k = dict(integrated_gradients=p.get("n_steps", 1), gradient_shap=p.get("n_samples", 1),
                 guided_grad_cam=2).get(m, 1)
        out[label] = k * (p["noise_tunnel"]["nt_samples"] if p.get("noise_tunnel") else 1)
    return out


def attribute_variants(model, batch: torch.Tensor, target: int, settings: dict, seed: int = 0,
                       chunk: int = 40, cache: bool = False) -> dict:
    """Every method's maps for all variants of one image in one call each: label -> (A, C, H, W).

    IG's baseline (zero in ImageNet-normalised space) and GradientSHAP's baselines (one standard-normal image per
    variant, paired with it under the noise tunnel, as the authors draw one per image) are built here; `seed` fixes all noise.
    `chunk` bounds the images per forward pass (memory), not the result. cache=True keeps the maps on disk
    (`attribution.attribute(cache=True)`), so a re-run reads them back instead of computing them."""
    out = {}
    for k, (label, (m, params)) in enumerate(settings.items()):
        params = dict(params)
        if m == "integrated_gradients":
            params.update(baselines=imagenet_mean_image(batch[:1]), internal_batch_size=chunk)
        if m == "gradient_shap":
            params.update(baselines=shap_baselines(len(batch), batch.shape[-1], seed))
        if "noise_tunnel" in params:
            per = len(batch) * params.get("n_samples", 1)
            params["noise_tunnel"] = dict(params["noise_tunnel"], nt_samples_batch_size=max(1, chunk // per))
        out[label] = attribution.attribute(model, batch, target, m, batch_size=len(batch), seed=seed + k,
                                           cache=cache, **params)
    return out


# ---------------------------------------------------------------- the experiment

FLOOR_SEED = 50  # offset of the noise floor's seed from the image's (the image's methods use offsets 0..len-1)


def run(model, originals, settings: dict, augmentations=AUGMENTATIONS, size: int = 224, seed: int = 0,
        keep_maps_for=(), chunk: int = 40, show_progress: bool = True, cache: bool = False,
        noise_floor: bool = True, data_range: dict | None = None) -> dict:
    """The paper's experiment on one model: for every original, all variants in one batch through the model and
    every method; then SSIM (window 11) under every choice of `DATA_RANGES`.

    noise_floor=True re-runs every stochastic method (`stochastic`) on the unaugmented image with a fresh seed:
    the SSIM that the method's own randomness costs. `data_range` (label -> float) replaces the pooled maximum
    (to score a few display images on another experiment's range). cache=True: maps from and to the disk cache.

    Returns dict(probs (N, A) of the class predicted on each original, pred (N,), top1 (N, A) the class predicted
    on every image (original first), kept (N, A-1) bool,
    top1_changed (N, A-1) bool (the augmented image's top class is another), ssim {label: (N, A-1)} (pooled
    maximum, the authors' choice), ssim_ranges {range: {label: (N, A-1)}},
    ssim_masked {label: (N, A-1)} (rotations: only pixels inside the rotated frame), noise_floor {range: {label:
    (N,)}} (stochastic labels), interpolation / interpolation_masked {label: (N, rotations)} (the base map's
    round trip for each rotation among `augmentations`, in their order; pooled range), data_range {label: float}
    (pooled max), data_range_p99 {label: float}, image_range {label: (N,)}, maps {i: {label: (A, C, H, W)}} and
    inputs {i: (A, C, H, W)} for i in keep_maps_for, floor_maps {i: {label: (1, C, H, W)}} likewise)."""
    from .runtime import progress, thread_map
    augmentations = tuple(augmentations)
    if augmentations[0] != "none":
        raise ValueError("augmentations must start with 'none'")
    noisy = {k: settings[k] for k in stochastic(settings)} if noise_floor else {}
    probs, preds, changed, top1, all_maps, reruns, inputs = [], [], [], [], [], [], {}
    bar = progress(list(enumerate(originals)), desc="images", disable=not show_progress)
    for i, img in bar:
        batch = augmented_batch(img, augmentations, size)
        p = model.predict(batch)
        c = int(p[0].argmax())
        preds.append(c)
        probs.append(p[:, c])
        changed.append(p[1:].argmax(1) != c)
        top1.append(p.argmax(1))
        s = seed * 100_003 + i * 101
        all_maps.append(attribute_variants(model, batch, c, settings, seed=s, chunk=chunk, cache=cache))
        reruns.append(attribute_variants(model, batch[:1], c, noisy, seed=s + FLOOR_SEED, chunk=chunk, cache=cache)
                      if noisy else {})
        if i in keep_maps_for:
            inputs[i] = batch
    probs = torch.stack(probs)
    kept = kept_pairs(probs[:, 0], probs[:, 1:])
    labels = list(settings)
    pooled = {m: max(float(mp[m].abs().max()) for mp in all_maps) for m in labels}
    pooled.update({m: float(v) for m, v in (data_range or {}).items() if m in pooled})
    p99 = {m: max(float(np.percentile(np.concatenate([mp[m].abs().numpy().ravel() for mp in all_maps]), 99)),
                  1e-30) for m in labels}
    # the share of a map's values near 0 (below 1% of the pooled data_range): how sparse each map is
    near_zero = {m: np.stack([(mp[m].abs() < NEAR_ZERO * pooled[m]).float().mean((1, 2, 3)).numpy()
                              for mp in all_maps]) for m in labels}
    rotations = tuple(angle(a) for a in augmentations if angle(a))
    scores = thread_map(lambda i: image_scores(all_maps[i], augmentations, pooled, p99, reruns[i], rotations),
                        range(len(all_maps)))
    col = lambda key, m: np.stack([sc[m][key] for sc in scores])
    ranges = {r: {m: col("pairs", m)[..., j] for m in labels} for j, r in enumerate(DATA_RANGES)}
    floor = {r: {m: np.array([sc[m]["floor"][j] for sc in scores]) for m in noisy} for j, r in enumerate(DATA_RANGES)}
    return dict(probs=probs, pred=torch.tensor(preds), kept=kept, top1_changed=torch.stack(changed),
                top1=torch.stack(top1), near_zero=near_zero,
                augmentations=augmentations,
                ssim=ranges["pooled_max"], ssim_ranges=ranges, ssim_masked={m: col("masked", m) for m in labels},
                noise_floor=floor if noisy else {}, stochastic=list(noisy),
                interpolation={m: col("interp", m) for m in labels},
                interpolation_masked={m: col("interp_masked", m) for m in labels},
                data_range=pooled, data_range_p99=p99,
                image_range={m: np.array([sc[m]["image_max"] for sc in scores]) for m in labels},
                maps={i: all_maps[i] for i in keep_maps_for if i < len(all_maps)}, inputs=inputs,
                floor_maps={i: reruns[i] for i in keep_maps_for if i < len(reruns)})


def summarize(out: dict, which: str = "ssim") -> dict:
    """Mean and std of SSIM over the kept pairs: per method, per (method, augmentation), rotations vs filters."""
    kept = out["kept"].numpy()
    augs = out["augmentations"][1:]
    rot = np.array([a.startswith("rotate_") for a in augs])
    res = {}
    for m, s in out[which].items():
        v = s[kept]
        per_aug = {a: (float(s[:, j][kept[:, j]].mean()) if kept[:, j].any() else float("nan"))
                   for j, a in enumerate(augs)}
        rk, fk = kept & rot[None], kept & ~rot[None]
        res[m] = dict(mean=float(v.mean()) if v.size else float("nan"), std=float(v.std()) if v.size else float("nan"),
                      n=int(v.size), per_augmentation=per_aug,
                      rotations=float(s[rk].mean()) if rk.any() else float("nan"),
                      filters=float(s[fk].mean()) if fk.any() else float("nan"))
    return res


# ---------------------------------------------------------------- the paper profile: fine-tuning sweep (GPU)

FIRST_CONV = {"resnet18": "net.conv1", "densenet121": "net.features.conv0", "efficientnet_b0": "net.features.0.0"}


def subset_indices(n: int, fraction: float) -> np.ndarray:
    """An evenly spread, deterministic subset of floor(n * fraction) indices (the authors drop every k-th)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    i = np.arange(n)
    return i[np.floor((i + 1) * fraction) > np.floor(i * fraction)]


def _new_head(model, n_classes: int):
    from torch import nn
    net = model.net
    if hasattr(net, "fc"):
        net.fc = nn.Linear(net.fc.in_features, n_classes)
    elif isinstance(getattr(net, "classifier", None), nn.Linear):
        net.classifier = nn.Linear(net.classifier.in_features, n_classes)
    else:
        net.classifier[-1] = nn.Linear(net.classifier[-1].in_features, n_classes)
    return model


def finetune(arch: str, train_set, test_set, classes, fraction: float = 1.0, epochs: int = 15, lr: float = 1e-3,
             momentum: float = 0.9, step: int = 7, gamma: float = 0.1, batch_size: int = 8, seed: int = 0,
             device="cuda", checkpoint_dir: Path | None = None, num_workers: int = 4):
    """Fine-tune an ImageNet torchvision model on a dataset of [0, 1] tensors (section 4.2): SGD with momentum,
    cross-entropy, StepLR(step, gamma) (0.001 -> 0.0001 after epoch 7), `epochs` epochs, no augmentation; the
    best epoch on `test_set` is kept, as in the authors' code. Cached in checkpoint_dir. Returns (model, info)."""
    from torch.nn import functional as F
    from torch.utils.data import DataLoader, Subset

    from .models import load_model
    from .runtime import progress, seeded
    model = _new_head(load_model(arch), len(classes))
    model.classes, model.gradcam_layer = tuple(classes), FIRST_CONV[arch]
    ckpt = Path(checkpoint_dir) / f"{arch}_{int(round(fraction * 100))}pct_seed{seed}.pt" if checkpoint_dir else None
    if ckpt is not None and ckpt.is_file():
        saved = torch.load(ckpt, map_location="cpu", weights_only=False)
        model.load_state_dict(saved["state_dict"])
        return model.to(device).eval(), saved["info"]
    idx = subset_indices(len(train_set), fraction)
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=step, gamma=gamma)
    best, best_acc, history = None, -1.0, []
    with seeded(seed):
        g = torch.Generator().manual_seed(seed)
        train_dl = DataLoader(Subset(train_set, idx), batch_size=batch_size, shuffle=True, generator=g,
                              num_workers=num_workers)
        test_dl = DataLoader(test_set, batch_size=64, num_workers=num_workers)
        for epoch in progress(range(epochs), desc=f"{arch} {fraction:.0%}"):
            model.train()
            for xb, yb in train_dl:
                loss = F.cross_entropy(model(xb.to(device)), yb.to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()
            model.eval()
            correct = 0
            with torch.no_grad():
                for xb, yb in test_dl:
                    correct += (model(xb.to(device)).argmax(1).cpu() == yb).sum().item()
            acc = correct / len(test_set)
            history.append(acc)
            if acc > best_acc:
                best, best_acc = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, acc
    model.load_state_dict(best)
    info = dict(arch=arch, fraction=fraction, n_train=len(idx), test_accuracy=best_acc, history=history,
                epochs=epochs, lr=lr, momentum=momentum, step=step, gamma=gamma, batch_size=batch_size, seed=seed)
    if ckpt is not None:
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": model.state_dict(), "info": info}, ckpt)
    return model.eval(), info


def finetune_sweep(archs=("resnet18", "densenet121", "efficientnet_b0"), fractions=(0.2, 0.4, 0.6, 0.8, 1.0),
                   root: Path | None = None, size: int = 224, device="cuda", checkpoint_dir: Path | None = None,
                   **kw):
    """Section 4.2 on Food-101 (torchvision): every arch fine-tuned at every training fraction. Yields
    (model, info) one at a time so that a caller can measure each and free it. Needs a GPU, the Food-101 files
    (5 GB) and the torchvision ImageNet weights; fails with a clear message where they are missing."""
    from torchvision import transforms

    from .data import food101
    if not torch.cuda.is_available() and str(device).startswith("cuda"):
        raise RuntimeError("the fine-tuning sweep (75 models in the paper, 15 here) needs a CUDA GPU; "
                           "pass device='cpu' only for a tiny trial")
    tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor()])
    train_set, test_set = food101("train", root, transform=tf), food101("test", root, transform=tf)
    for arch in archs:
        for f in fractions:
            yield finetune(arch, train_set, test_set, train_set.classes, f, device=device,
                           checkpoint_dir=checkpoint_dir, **kw)
