"""XRAI (Kapishnikov et al. 2019, section 4, Algorithm 1): attribution summed over image regions.

The image is over-segmented by scikit-image's Felzenszwalb at several scales; every segment is dilated; then
regions are added greedily, each time the one whose not-yet-covered part has the highest mean attribution
(the base attribution is Integrated Gradients with black and white baselines, collapsed over channels by max).
The heat map gives every added region its gain; the trajectory is the growing union of regions.

Settings follow PAIR's public implementation (PyPI `saliency` 0.2.1, see ../shared/papers/ORIGINAL_CODE_FACTS.md):
segmentation on the image rescaled to [-1, 1] at 224 x 224, sigma 0.8, min_size 150; masks dilated by disk(5);
regions that add fewer than `min_pixel_diff` = 50 new pixels are dropped. The paper's "ignore segments smaller
than 20 pixels" is `min_area` (a no-op next to min_size 150, kept for other settings).

The greedy loop works on "atoms" (pixels that lie in exactly the same segments) and keeps per-segment running
sums and counts, updated only at the newly covered atoms; PAIR rescans every segment's pixels every step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from skimage.morphology import disk
from skimage.segmentation import felzenszwalb
from skimage.transform import resize

from . import attribution

SCALES = (50, 100, 150, 250, 500, 1200)
SIGMA = 0.8
MIN_SIZE = 150          # Felzenszwalb's own min_size (PAIR's code)
MIN_AREA = 20           # the paper: ignore segments smaller than 20 pixels
DILATION = 5            # disk radius
MIN_PIXEL_DIFF = 50     # PAIR: skip a region that adds fewer new pixels
SEG_SIZE = (224, 224)   # segmentation resolution (PAIR resizes to this)


@dataclass
class XRAIResult:
    """One image's XRAI output.

    heatmap: (H, W) float, each pixel holds the gain of the region that covered it (leftover: its mean).
    ranks: (H, W) int, 1 = the region with the highest gain (PAIR's `flatten_xrai_segments` output).
    regions: flat pixel indices of each added region (its not-yet-covered part), in selection order; the
      leftover (pixels no segment covered) comes last when there is one.
    gains: the gain of each entry of `regions`.
    shape: (H, W).
    """
    heatmap: np.ndarray
    ranks: np.ndarray
    regions: list
    gains: np.ndarray
    shape: tuple

    def trajectory(self) -> np.ndarray:
        """The masks M_1 subset M_2 subset ... (T, H, W) bool, in selection order (Algorithm 1's T)."""
        out = np.zeros((len(self.regions), self.shape[0] * self.shape[1]), dtype=bool)
        covered = np.zeros(self.shape[0] * self.shape[1], dtype=bool)
        for t, idx in enumerate(self.regions):
            covered[idx] = True
            out[t] = covered
        return out.reshape(len(self.regions), *self.shape)

    def top_area(self, fraction: float) -> np.ndarray:
        """The most salient `fraction` of the image by the heat map (ties included), (H, W) bool."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        return self.heatmap >= np.quantile(self.heatmap, 1.0 - fraction)


def _hwc(image) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
        if image.ndim == 3 and image.shape[0] in (1, 3):
            image = np.moveaxis(image, 0, -1)
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(f"image must be (C, H, W) tensor or (H, W[, C]) array; got shape {image.shape}")
    if not np.isfinite(image).all():
        raise ValueError("image contains NaN or inf")
    return image


def segments(image, scales=SCALES, sigma=SIGMA, min_size=MIN_SIZE, min_area=MIN_AREA, dilation=DILATION,
             seg_size=SEG_SIZE) -> np.ndarray:
    """Felzenszwalb segments of `image` at every scale, each dilated by disk(dilation): (K, H, W) bool.

    The image is rescaled to [-1, 1] by its own min and max and resized to `seg_size` (bicubic) before
    segmenting, and the labels resized back (nearest), as in PAIR's code, so the scales mean the same thing
    for any input size.
    """
    im = _hwc(image)
    shape = im.shape[:2]
    lo, hi = im.min(), im.max()
    im = (im - lo) / max(hi - lo, 1e-12) * 2.0 - 1.0
    if seg_size is not None:
        im = resize(im, seg_size, order=3, mode="constant", preserve_range=True, anti_aliasing=True)
    foot = disk(dilation) if dilation else None
    masks = []
    for scale in scales:
        seg = felzenszwalb(im, scale=scale, sigma=sigma, min_size=min_size)
        if seg_size is not None and tuple(seg.shape) != tuple(shape):
            seg = resize(seg, shape, order=0, preserve_range=True, mode="constant", anti_aliasing=False).astype(int)
        # Dilate each segment inside its bounding box (plus the radius), not over the whole image.
        for label, box in enumerate(ndimage.find_objects(seg + 1)):
            if box is None:
                continue
            area = int((seg[box] == label).sum())
            if area < min_area:
                continue
            mask = np.zeros(shape, dtype=bool)
            if foot is None:
                mask[box] = seg[box] == label
            else:
                r = dilation
                big = tuple(slice(max(s.start - r, 0), min(s.stop + r, n)) for s, n in zip(box, shape))
                mask[big] = ndimage.binary_dilation(seg[big] == label, structure=foot)
            masks.append(mask)
    return np.stack(masks) if masks else np.zeros((0,) + tuple(shape), dtype=bool)


def regions(attr2d, masks, min_pixel_diff: int = MIN_PIXEL_DIFF) -> XRAIResult:
    """The greedy part of XRAI on a 2-D attribution map and (K, H, W) boolean segments.

    Each step adds the segment whose part not yet covered has the highest mean attribution (ties: the first
    segment), drops segments that would add fewer than `min_pixel_diff` pixels, and stops when none is left.
    """
    a = np.asarray(attr2d, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"attr2d must be (H, W); got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("attribution contains NaN or inf")
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3 or masks.shape[1:] != a.shape:
        raise ValueError(f"masks must be (K, H, W) with (H, W) = {a.shape}; got {masks.shape}")
    flat = a.ravel()
    S = masks.reshape(len(masks), -1)
    # Pixels that belong to exactly the same segments ("atoms") always move together: work on atoms.
    keys = np.packbits(S, axis=0).T.copy()
    _, first, atom = np.unique(keys.view(np.dtype((np.void, keys.shape[1]))).ravel(), return_index=True,
                               return_inverse=True)
    atom = atom.ravel()
    A = S[:, first]                                              # (K, n_atoms)
    a_cnt = np.bincount(atom, minlength=len(first))
    a_sum = np.bincount(atom, weights=flat, minlength=len(first))
    Af = A.astype(np.float64)
    count = Af @ a_cnt
    total = Af @ a_sum
    active = np.ones(len(S), dtype=bool)
    covered = np.zeros(len(first), dtype=bool)
    picked, gains = [], []
    while True:
        active &= count >= min_pixel_diff
        if not active.any():
            break
        gain = np.where(active, total / np.maximum(count, 1), -np.inf)
        k = int(np.argmax(gain))
        new = np.flatnonzero(A[k] & ~covered)
        picked.append(new)
        gains.append(gain[k])
        covered[new] = True
        active[k] = False
        sub = Af[:, new]
        count -= sub @ a_cnt[new]
        total -= sub @ a_sum[new]
    # Back from atoms to pixels.
    order = np.argsort(atom, kind="stable")
    starts = np.concatenate([[0], np.cumsum(a_cnt)])
    picked = [np.sort(np.concatenate([order[starts[j]:starts[j + 1]] for j in new])) for new in picked]
    covered = np.zeros(flat.size, dtype=bool)
    for idx in picked:
        covered[idx] = True
    heat = np.full(flat.size, np.nan)
    for idx, g in zip(picked, gains):
        heat[idx] = g
    rest = np.flatnonzero(~covered)
    if rest.size:
        g = flat[rest].mean()
        heat[rest] = g
        picked.append(rest)
        gains.append(g)
    gains = np.asarray(gains, dtype=np.float64)
    # Ranks by gain (stable), the leftover last, as PAIR orders its output segments.
    n_sel = len(gains) - (1 if rest.size else 0)
    order = list(np.argsort(-gains[:n_sel], kind="stable")) + ([n_sel] if rest.size else [])
    ranks = np.zeros(flat.size, dtype=np.int64)
    for r, i in enumerate(order):
        ranks[picked[i]] = r + 1
    return XRAIResult(heat.reshape(a.shape), ranks.reshape(a.shape), picked, gains, tuple(a.shape))


def reduce_channels(attr) -> np.ndarray:
    """(C, H, W) tensor or (H, W, C) / (H, W) array -> (H, W) by the channel max (signed), as PAIR does."""
    if isinstance(attr, torch.Tensor):
        attr = attr.detach().cpu().numpy()
        return attr.max(0) if attr.ndim == 3 else attr
    attr = np.asarray(attr)
    return attr.max(-1) if attr.ndim == 3 else attr


def explain(image, attr, masks=None, min_pixel_diff: int = MIN_PIXEL_DIFF, **seg_kw) -> XRAIResult:
    """XRAI for one image given its base attribution (any shape `reduce_channels` takes)."""
    a2 = reduce_channels(attr)
    if masks is None:
        masks = segments(image, **seg_kw)
    return regions(a2, masks, min_pixel_diff)


def xrai(model, x: torch.Tensor, target=None, *, n_steps: int = 50, base: str = "integrated_gradients",
         base_params: dict | None = None, batch_size: int = 4, seed: int | None = 0,
         min_pixel_diff: int = MIN_PIXEL_DIFF, **seg_kw) -> list[XRAIResult]:
    """XRAI for a batch x (N, C, H, W) in [0, 1]: the base attribution (IG, black + white baselines, by
    default) in batches on the model's device, then segments and regions per image on the CPU."""
    params = dict(baselines="black_white", n_steps=n_steps, internal_batch_size=32) \
        if base == "integrated_gradients" else {}
    params.update(base_params or {})
    maps = attribution.attribute(model, x, target, method=base, batch_size=batch_size, seed=seed, **params)
    return [explain(xi, ai, min_pixel_diff=min_pixel_diff, **seg_kw) for xi, ai in zip(x, maps)]


@attribution.method("xrai", "XRAI: IG (black + white baselines) summed over greedily chosen Felzenszwalb regions")
def _xrai_method(model, x, target, n_steps=50, base="integrated_gradients", base_params=None,
                 min_pixel_diff=MIN_PIXEL_DIFF, internal_batch_size=32):
    params = dict(baselines="black_white", n_steps=n_steps, internal_batch_size=internal_batch_size) \
        if base == "integrated_gradients" else {}
    params.update(base_params or {})
    maps = attribution.METHODS[base](model, x, target, **params).detach()
    heat = [explain(xi.detach(), ai, min_pixel_diff=min_pixel_diff).heatmap for xi, ai in zip(x, maps)]
    heat = torch.as_tensor(np.stack(heat), dtype=x.dtype, device=x.device)
    return heat.unsqueeze(1).expand(-1, x.shape[1], -1, -1)
