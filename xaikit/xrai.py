"""XRAI (Kapishnikov et al. 2019, section 4, Algorithm 1): attribution summed over image regions.

The image is over-segmented by Felzenszwalb's graph method at several scales; every segment is dilated; then
regions are added greedily, each time the one whose not-yet-covered part has the highest mean attribution
(the base attribution is Integrated Gradients with black and white baselines, collapsed over channels by max).
The heat map gives every added region its gain; the trajectory is the growing union of regions.

Settings follow PAIR's public implementation (PyPI `saliency` 0.2.1, https://github.com/PAIR-code/saliency):
segmentation on the image rescaled to [-1, 1] at 224 x 224, sigma 0.8, min_size 150; masks dilated by disk(5);
regions that add fewer than `min_pixel_diff` = 50 new pixels are dropped. The paper's "ignore segments smaller
than 20 pixels" is `min_area` (a no-op next to min_size 150, kept for other settings).

Two gain functions (the paper's footnote 2: "Both s \\ M and s U M are possible as gain functions. We report
results on union"):
- `gain="difference"` (default; PAIR's code): g_s = mean attribution over s \\ M, the part of s not yet covered.
  The heat map gives each added region its gain; ranks sort the regions by gain (PAIR's output).
- `gain="union"` (what Table 1 reports, by the footnote): g_s = mean attribution over s U M, the whole mask
  after adding s. Union gains along the trajectory are not monotone (adding a dense region can raise the mean of
  the mask), and they describe the mask, not the region, so the region order is the trajectory itself (Algorithm
  1: "the trajectory of masks as the importance ranking"): ranks are the selection order and the heat map
  decreases along it ((T - t) / T for the t-th of T regions, the leftover 0). With an empty mask both gains are
  the segment's mean, so both variants pick the same first region; they part when a dense mask M makes the
  union prefer a small addition that dilutes M little over a larger one of higher density.

Felzenszwalb: `engine="numba"` (default when numba is installed) gives labels identical to scikit-image's
`felzenszwalb` (tested on real images at every scale) about 5x faster for the six scales: the edge weights are
computed and sorted once for all scales, not once per scale, and the union-find halves paths and unites by size
(scikit-image's `find_root` walks the whole chain each time). `engine="skimage"` calls scikit-image itself.
Several images run in threads (the compiled loop releases the GIL).

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

from . import attribution, runtime

try:
    import numba
except ImportError:         # scikit-image's own Felzenszwalb then does the segmentation
    numba = None

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

    heatmap: (H, W) float. gain "difference": each pixel holds the gain of the region that covered it (leftover:
      its mean). gain "union": (T - t) / T for the t-th of the T selected regions, the leftover 0.
    ranks: (H, W) int, 1 = the most important region: the highest gain ("difference", PAIR's
      `flatten_xrai_segments` output) or the first selected ("union").
    regions: flat pixel indices of each added region (its not-yet-covered part), in selection order; the
      leftover (pixels no segment covered) comes last when there is one.
    gains: the gain of each entry of `regions` (for "union": the mean attribution of the mask after adding it;
      the leftover's entry is the mean of the whole image).
    shape: (H, W).
    gain: "difference" or "union".
    """
    heatmap: np.ndarray
    ranks: np.ndarray
    regions: list
    gains: np.ndarray
    shape: tuple
    gain: str = "difference"

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


ENGINES = ("numba", "skimage")


def _engine(engine: str) -> str:
    if engine == "auto":
        return "numba" if numba is not None else "skimage"
    if engine not in ENGINES:
        raise ValueError(f"unknown Felzenszwalb engine {engine!r}; use 'auto' or one of {ENGINES}")
    if engine == "numba" and numba is None:
        raise ImportError("engine='numba' needs the numba package (pip install numba)")
    return engine


def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]          # path halving
        i = parent[i]
    return i


def _felz_sorted(edges, costs, n, scales, min_size):
    """Felzenszwalb's merge and min_size passes over pre-sorted edges, for several scales at once."""
    out = np.empty((len(scales), n), dtype=np.int64)
    parent = np.empty(n, dtype=np.int64)
    size = np.empty(n, dtype=np.int64)
    cint = np.empty(n, dtype=np.float64)
    lab = np.empty(n, dtype=np.int64)
    for s in range(len(scales)):
        k = scales[s]
        for i in range(n):
            parent[i] = i
            size[i] = 1
            cint[i] = 0.0
        for e in range(len(costs)):
            a = _find(parent, edges[e, 0])
            b = _find(parent, edges[e, 1])
            if a == b:
                continue
            # scikit-image keeps these thresholds in C floats: round the same way
            if costs[e] < min(np.float32(cint[a] + k / size[a]), np.float32(cint[b] + k / size[b])):
                if size[a] < size[b]:
                    a, b = b, a
                parent[b] = a
                size[a] += size[b]
                cint[a] = costs[e]
        for e in range(len(costs)):
            a = _find(parent, edges[e, 0])
            b = _find(parent, edges[e, 1])
            if a != b and (size[a] < min_size or size[b] < min_size):
                if size[a] < size[b]:
                    a, b = b, a
                parent[b] = a
                size[a] += size[b]
        # labels numbered by each component's first pixel in raster order, as scikit-image numbers them
        lab[:] = -1
        nxt = 0
        for i in range(n):
            r = _find(parent, i)
            if lab[r] < 0:
                lab[r] = nxt
                nxt += 1
            out[s, i] = lab[r]
    return out


if numba is not None:
    _find = numba.njit(cache=True, nogil=True)(_find)
    _felz_sorted = numba.njit(cache=True, nogil=True)(_felz_sorted)


def felzenszwalb_scales(image, scales=SCALES, sigma=SIGMA, min_size=MIN_SIZE, engine: str = "auto") -> np.ndarray:
    """Felzenszwalb labels of an (H, W[, C]) float image at every scale: (len(scales), H, W) int, equal to
    `[skimage.segmentation.felzenszwalb(image, scale=s, sigma=sigma, min_size=min_size) for s in scales]`."""
    image = _hwc(image)
    if _engine(engine) == "skimage":
        return np.stack([felzenszwalb(image, scale=s, sigma=sigma, min_size=min_size) for s in scales])
    h, w = image.shape[:2]
    image = ndimage.gaussian_filter(image, sigma=[sigma, sigma, 0])
    # The 8-connected edges and their colour distances in scikit-image's order (ties then sort alike).
    pairs = [(image[:, 1:], image[:, :w - 1]), (image[1:], image[:h - 1]),
             (image[1:, 1:], image[:h - 1, :w - 1]), (image[1:, :w - 1], image[:h - 1, 1:])]
    costs = np.hstack([np.sqrt(np.sum((a - b) * (a - b), axis=-1)).ravel() for a, b in pairs])
    ids = np.arange(h * w, dtype=np.int64).reshape(h, w)
    edges = np.vstack([np.c_[ids[:, 1:].ravel(), ids[:, :w - 1].ravel()], np.c_[ids[1:].ravel(), ids[:h - 1].ravel()],
                       np.c_[ids[1:, 1:].ravel(), ids[:h - 1, :w - 1].ravel()],
                       np.c_[ids[:h - 1, 1:].ravel(), ids[1:, :w - 1].ravel()]])
    order = np.argsort(costs)
    labels = _felz_sorted(np.ascontiguousarray(edges[order]), np.ascontiguousarray(costs[order]), h * w,
                          np.asarray(scales, dtype=np.float64) / 255.0, int(min_size))
    return labels.reshape(len(scales), h, w)


def _prepare(image, seg_size):
    im = _hwc(image)
    shape = im.shape[:2]
    lo, hi = im.min(), im.max()
    im = (im - lo) / max(hi - lo, 1e-12) * 2.0 - 1.0
    if seg_size is not None:
        im = resize(im, seg_size, order=3, mode="constant", preserve_range=True, anti_aliasing=True)
    return im, tuple(shape)


def _image_segments(im, shape, scales, sigma, min_size, min_area, dilation, engine):
    """One image, all scales: [(box, dilated mask inside the box)], scale by scale, in label order."""
    foot = disk(dilation) if dilation else None
    out = []
    for seg in felzenszwalb_scales(im, scales, sigma, min_size, engine):
        if tuple(seg.shape) != shape:
            seg = resize(seg, shape, order=0, preserve_range=True, mode="constant", anti_aliasing=False).astype(int)
        # Dilate each segment inside its bounding box (plus the radius), not over the whole image.
        for label, box in enumerate(ndimage.find_objects(seg + 1)):
            if box is None or int((seg[box] == label).sum()) < min_area:
                continue
            if foot is None:
                out.append((box, seg[box] == label))
            else:
                big = tuple(slice(max(s.start - dilation, 0), min(s.stop + dilation, n)) for s, n in zip(box, shape))
                out.append((big, ndimage.binary_dilation(seg[big] == label, structure=foot)))
    return out


def segments(image, scales=SCALES, sigma=SIGMA, min_size=MIN_SIZE, min_area=MIN_AREA, dilation=DILATION,
             seg_size=SEG_SIZE, engine: str = "auto") -> np.ndarray:
    """Felzenszwalb segments of `image` at every scale, each dilated by disk(dilation): (K, H, W) bool.

    The image is rescaled to [-1, 1] by its own min and max and resized to `seg_size` (bicubic) before
    segmenting, and the labels resized back (nearest), as in PAIR's code, so the scales mean the same thing
    for any input size. `engine`: see `felzenszwalb_scales`.
    """
    return segments_many([image], scales, sigma, min_size, min_area, dilation, seg_size, engine, workers=1)[0]


def segments_many(images, scales=SCALES, sigma=SIGMA, min_size=MIN_SIZE, min_area=MIN_AREA, dilation=DILATION,
                  seg_size=SEG_SIZE, engine: str = "auto", workers: int | None = None) -> list[np.ndarray]:
    """`segments` for several images, in `workers` threads (default: the usable CPU cores); the result does not
    depend on the number of threads."""
    prepared = [_prepare(im, seg_size) for im in images]
    engine = _engine(engine)
    # threads help: the compiled Felzenszwalb loop releases the GIL
    parts = runtime.thread_map(lambda p: _image_segments(*p, scales, sigma, min_size, min_area, dilation, engine),
                               prepared, workers)
    out = []
    for (_, shape), pieces in zip(prepared, parts):
        masks = np.zeros((len(pieces),) + shape, dtype=bool)
        for k, (box, m) in enumerate(pieces):
            masks[(k,) + box] = m
        out.append(masks)
    return out


def _pack_rows(S: np.ndarray) -> np.ndarray:
    """(K, P) bool -> (P, ceil(K/8)) uint8, bit b of byte j = S[8j + b] (np.packbits along axis 0 is ~5x slower)."""
    keys = np.zeros(((len(S) + 7) // 8, S.shape[1]), dtype=np.uint8)
    for b in range(8):
        rows = S[b::8].view(np.uint8)
        keys[:len(rows)] |= rows << b
    return np.ascontiguousarray(keys.T)


GAINS = ("difference", "union")


def regions(attr2d, masks, min_pixel_diff: int = MIN_PIXEL_DIFF, gain: str = "difference") -> XRAIResult:
    """The greedy part of XRAI on a 2-D attribution map and (K, H, W) boolean segments.

    Each step adds the segment with the highest gain (ties: the first segment), drops segments that would add
    fewer than `min_pixel_diff` pixels, and stops when none is left. `gain`: "difference" (PAIR's code: mean
    attribution of the part not yet covered) or "union" (the paper's footnote: mean attribution of the mask
    after adding the segment); see the module docstring.
    """
    if gain not in GAINS:
        raise ValueError(f"unknown gain {gain!r}: use one of {GAINS}")
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
    keys = _pack_rows(S)
    _, first, atom = np.unique(keys.view(np.dtype((np.void, keys.shape[1]))).ravel(), return_index=True,
                               return_inverse=True)
    atom = atom.ravel()
    A = S[:, first]                                              # (K, n_atoms)
    a_cnt = np.bincount(atom, minlength=len(first))
    a_sum = np.bincount(atom, weights=flat, minlength=len(first))
    Af = A.astype(np.float64)
    count = Af @ a_cnt              # per segment: pixels not yet covered
    total = Af @ a_sum              # per segment: attribution of those pixels
    mask_cnt, mask_sum = 0.0, 0.0   # the mask M so far
    active = np.ones(len(S), dtype=bool)
    covered = np.zeros(len(first), dtype=bool)
    picked, gains = [], []
    while True:
        active &= count >= min_pixel_diff
        if not active.any():
            break
        if gain == "difference":
            g = np.where(active, total / np.maximum(count, 1), -np.inf)
        else:
            g = np.where(active, (mask_sum + total) / (mask_cnt + count), -np.inf)
        k = int(np.argmax(g))
        new = np.flatnonzero(A[k] & ~covered)
        picked.append(new)
        gains.append(g[k])
        covered[new] = True
        active[k] = False
        mask_cnt += float(a_cnt[new].sum())
        mask_sum += float(a_sum[new].sum())
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
    n_sel = len(picked)
    heat = np.full(flat.size, np.nan)
    for t, (idx, g) in enumerate(zip(picked, gains)):
        heat[idx] = g if gain == "difference" else (n_sel - t) / n_sel
    rest = np.flatnonzero(~covered)
    if rest.size:
        g = flat[rest].mean() if gain == "difference" else flat.mean()
        heat[rest] = g if gain == "difference" else 0.0
        picked.append(rest)
        gains.append(g)
    gains = np.asarray(gains, dtype=np.float64)
    # Ranks: by gain (stable) for "difference", as PAIR orders its output segments; by selection for "union";
    # the leftover last.
    order = (list(np.argsort(-gains[:n_sel], kind="stable")) if gain == "difference" else list(range(n_sel))) \
        + ([n_sel] if rest.size else [])
    ranks = np.zeros(flat.size, dtype=np.int64)
    for r, i in enumerate(order):
        ranks[picked[i]] = r + 1
    return XRAIResult(heat.reshape(a.shape), ranks.reshape(a.shape), picked, gains, tuple(a.shape), gain)


def reduce_channels(attr) -> np.ndarray:
    """(C, H, W) tensor or (H, W, C) / (H, W) array -> (H, W) by the channel max (signed), as PAIR does."""
    if isinstance(attr, torch.Tensor):
        attr = attr.detach().cpu().numpy()
        return attr.max(0) if attr.ndim == 3 else attr
    attr = np.asarray(attr)
    return attr.max(-1) if attr.ndim == 3 else attr


def explain(image, attr, masks=None, min_pixel_diff: int = MIN_PIXEL_DIFF, gain: str = "difference",
            **seg_kw) -> XRAIResult:
    """XRAI for one image given its base attribution (any shape `reduce_channels` takes). Pass `masks` (from
    `segments`) to reuse one segmentation for several attributions or both gain functions."""
    a2 = reduce_channels(attr)
    if masks is None:
        masks = segments(image, **seg_kw)
    return regions(a2, masks, min_pixel_diff, gain)


def xrai(model, x: torch.Tensor, target=None, *, n_steps: int = 50, base: str = "integrated_gradients",
         base_params: dict | None = None, batch_size: int = 4, seed: int | None = 0,
         min_pixel_diff: int = MIN_PIXEL_DIFF, gain: str = "difference", cache: bool = False,
         **seg_kw) -> list[XRAIResult]:
    """XRAI for a batch x (N, C, H, W) in [0, 1]: the base attribution (IG, black + white baselines, by
    default) in batches on the model's device, then segments and regions per image on the CPU. `cache=True`
    keeps the base attribution on disk (`attribution.attribute(..., cache=True)`)."""
    params = dict(baselines="black_white", n_steps=n_steps, internal_batch_size=32) \
        if base == "integrated_gradients" else {}
    params.update(base_params or {})
    maps = attribution.attribute(model, x, target, method=base, batch_size=batch_size, seed=seed, cache=cache,
                                 **params)
    masks = segments_many(list(x), **seg_kw)
    return [explain(xi, ai, m, min_pixel_diff=min_pixel_diff, gain=gain) for xi, ai, m in zip(x, maps, masks)]


@attribution.method("xrai", "XRAI: IG (black + white baselines) summed over greedily chosen Felzenszwalb regions; "
                            "gain 'difference' (PAIR's code) or 'union' (the paper's Table 1)")
def _xrai_method(model, x, target, n_steps=50, base="integrated_gradients", base_params=None,
                 min_pixel_diff=MIN_PIXEL_DIFF, internal_batch_size=32, gain="difference"):
    params = dict(baselines="black_white", n_steps=n_steps, internal_batch_size=internal_batch_size) \
        if base == "integrated_gradients" else {}
    params.update(base_params or {})
    maps = attribution.METHODS[base](model, x, target, **params).detach()
    masks = segments_many(list(x.detach()))
    heat = [explain(xi, ai, m, min_pixel_diff=min_pixel_diff, gain=gain).heatmap
            for xi, ai, m in zip(x, maps, masks)]
    heat = torch.as_tensor(np.stack(heat), dtype=x.dtype, device=x.device)
    return heat.unsqueeze(1).expand(-1, x.shape[1], -1, -1)
