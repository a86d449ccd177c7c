"""Performance Information Curves (Kapishnikov et al. 2019, section 5): SIC and AIC.

A *bokeh* image keeps the top-k% most salient pixels of the image and replaces the rest by a version with the
information removed: either the paper text's Gaussian blur (`mode="blur"`), or the rebuild PAIR's code uses
(`mode="rebuild"`): linear interpolation on the Delaunay triangulation of the kept pixels (as griddata),
seeded with a random 1% of pixels and the four corners. The information level of an image is its lossless
WebP size (PIL, quality 100, as PAIR) relative to the original's; SIC is the softmax of the originally
predicted class on the bokeh image, AIC whether the bokeh image keeps that top-1 class. Both are normalised
between the fully removed image and the original, kept monotone (running maximum), read off at 1,001 points
of the information axis, aggregated over images by the per-point median, and summarised by the area under
the median curve (Table 1).

Two definitions of the curves (both computed from the same raw points, `ImagePIC`):
- PAIR's code (`ImagePIC.sic` / `ImagePIC.aic`, `aggregate`): both axes rescaled between the fully removed image
  (0) and the original (1), running maximum, per-image curves on 1,001 points, per-point median over images.
  AIC's per-image curve is 0/1 (top-1 kept or not), so its median is a median of 0/1 steps.
- The paper's text (`text_points`, `text_curve`): information = WebP size of the bokeh image / the original's
  (no rescaling), SIC = softmax of the class on the bokeh image / on the original, AIC = accuracy (share of
  bokeh images that keep the class) per bin of information level, all images' points pooled; SIC takes the
  median per bin (Fig. 9 shows "median" curves). No image is skipped.

Speed: all thresholds and all methods of one image go through the model together (batches of
`batch_size`); identical keep masks (two methods that keep the same pixels at a threshold) are built, encoded
and classified once; SIC and AIC come from the same images; the original's and the fully removed image's WebP
sizes and predictions are computed once per image. The rebuild triangulates once for the three channels
(PAIR: once per channel) with the same scipy (Qhull) Delaunay as PAIR's griddata, finds each removed pixel's
triangle by scanning every triangle's bounding box with exact integer orientation tests (compiled with numba;
pixels are lattice points, so no tolerance is needed), and interpolates with barycentric weights: the result
equals PAIR's pixel for pixel (tested). The bokeh images of one image are built in threads (Qhull and the
scan release the GIL), as are the WebP encodings.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import torch
from PIL import Image
from scipy import interpolate
from scipy.spatial import Delaunay

from . import runtime

THRESHOLDS = (0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.10, 0.13, 0.21, 0.34, 0.5, 0.75)
MODES = ("rebuild", "blur")


def to_uint8(x) -> np.ndarray:
    """(C, H, W) tensor in [0, 1] -> (H, W, C) uint8 (rounded); arrays already (H, W, C) uint8 pass through."""
    if isinstance(x, torch.Tensor):
        if x.ndim != 3:
            raise ValueError(f"image must be (C, H, W); got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("image contains NaN or inf")
        x = (x.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 3:
        raise ValueError(f"expected an (H, W, C) uint8 array or a (C, H, W) float tensor; got {x.dtype} {x.shape}")
    return x


def to_tensor(u8: np.ndarray) -> torch.Tensor:
    """(..., H, W, C) uint8 -> (..., C, H, W) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(u8)).float().div(255).movedim(-1, -3)


def random_mask(height: int, width: int, fraction: float = 0.01, seed: int = 0) -> np.ndarray:
    """`fraction` of the pixels, drawn without replacement: the seed of the fully rebuilt image."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    mask = np.zeros(height * width, dtype=bool)
    mask[np.random.default_rng(seed).choice(mask.size, int(mask.size * fraction), replace=False)] = True
    return mask.reshape(height, width)


def keep_masks(saliency: np.ndarray, thresholds=THRESHOLDS, random: np.ndarray | None = None) -> np.ndarray:
    """(T, H, W) bool: the pixels at or above the (1 - t) quantile of the 2-D saliency, plus `random`."""
    s = np.asarray(saliency, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"saliency must be a 2-D map (H, W); got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("saliency contains NaN or inf")
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim != 1 or (t < 0).any() or (t > 1).any():
        raise ValueError(f"thresholds must be fractions in [0, 1]; got {thresholds}")
    q = np.quantile(s, 1.0 - t)
    keep = s[None] >= q[:, None, None]
    if random is not None:
        keep |= np.asarray(random, dtype=bool)[None]
    return keep


@numba.njit(cache=True, nogil=True)
def _locate(pts, simplices, missing):
    """For every True pixel of `missing` (H, W), the index of a triangle (integer vertices `pts` (n, 2) as
    row, col) that contains it, boundary included (first such triangle); -1 where none does."""
    h, w = missing.shape
    out = np.full((h, w), -1, dtype=np.int64)
    for t in range(len(simplices)):
        r0, c0 = pts[simplices[t, 0], 0], pts[simplices[t, 0], 1]
        r1, c1 = pts[simplices[t, 1], 0], pts[simplices[t, 1], 1]
        r2, c2 = pts[simplices[t, 2], 0], pts[simplices[t, 2], 1]
        if (r1 - r0) * (c2 - c0) - (c1 - c0) * (r2 - r0) == 0:
            continue                      # a flat triangle Qhull may emit: no barycentric weights
        for r in range(min(r0, r1, r2), max(r0, r1, r2) + 1):
            for c in range(min(c0, c1, c2), max(c0, c1, c2) + 1):
                if not missing[r, c] or out[r, c] >= 0:
                    continue
                d0 = (r1 - r) * (c2 - c) - (c1 - c) * (r2 - r)
                d1 = (r2 - r) * (c0 - c) - (c2 - c) * (r0 - r)
                d2 = (r0 - r) * (c1 - c) - (c0 - c) * (r1 - r)
                if (d0 >= 0 and d1 >= 0 and d2 >= 0) or (d0 <= 0 and d1 <= 0 and d2 <= 0):
                    out[r, c] = t
    return out


def rebuild(image: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """PAIR's 'blurred' image: removed pixels linearly interpolated from the kept ones (corners always kept;
    points outside the hull get the mean colour). (H, W, C) uint8 in and out."""
    img = to_uint8(image)
    keep = np.array(keep, dtype=bool)
    if keep.shape != img.shape[:2]:
        raise ValueError(f"keep must be (H, W) = {img.shape[:2]}; got {keep.shape}")
    h, w = keep.shape
    keep[[0, 0, h - 1, h - 1], [0, w - 1, 0, w - 1]] = True
    if keep.all():
        return img.copy()
    missing = ~keep
    pts = np.argwhere(keep).astype(np.float64)
    vals = img[keep].astype(np.float64)
    fill = img.reshape(-1, img.shape[2]).mean(0)
    # The triangles griddata would build (scipy's Delaunay of the kept pixels, as PAIR's).
    dt = Delaunay(pts)
    q = np.argwhere(missing).astype(np.float64)
    simplex = _locate(pts.astype(np.int64), dt.simplices.astype(np.int64), missing)[missing]
    inside = simplex >= 0
    # Barycentric coordinates of each removed pixel in its triangle, then all channels at once.
    tri = dt.simplices[simplex[inside]]
    a, b, c = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    v0, v1, v2 = b - a, c - a, q[inside] - a
    d00, d01, d11 = (v0 * v0).sum(1), (v0 * v1).sum(1), (v1 * v1).sum(1)
    d20, d21 = (v2 * v0).sum(1), (v2 * v1).sum(1)
    den = d00 * d11 - d01 * d01
    wb, wc = (d11 * d20 - d01 * d21) / den, (d00 * d21 - d01 * d20) / den
    est = np.full((len(q), vals.shape[1]), np.nan)
    est[inside] = ((1 - wb - wc)[:, None] * vals[tri[:, 0]] + wb[:, None] * vals[tri[:, 1]]
                   + wc[:, None] * vals[tri[:, 2]])
    est = np.where(np.isnan(est), fill[None], est)
    out = img.astype(np.float32)
    out[missing] = est.astype(np.float32)
    return np.round(out).astype(np.uint8)


def blur(image: np.ndarray, keep: np.ndarray, sigma: float = 10.0, blurred: np.ndarray | None = None) -> np.ndarray:
    """The paper text's bokeh image: kept pixels from the image, the rest from its Gaussian blur (sigma in
    pixels; the paper gives none). (H, W, C) uint8 in and out."""
    img = to_uint8(image)
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != img.shape[:2]:
        raise ValueError(f"keep must be (H, W) = {img.shape[:2]}; got {keep.shape}")
    if blurred is None:
        blurred = gaussian(img, sigma)
    return np.where(keep[..., None], img, blurred)


def gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    from skimage.filters import gaussian as _g
    img = to_uint8(image)
    return np.round(_g(img.astype(np.float64), sigma=sigma, channel_axis=-1, preserve_range=True)).astype(np.uint8)


def webp_size(image: np.ndarray, quality: int = 100) -> int:
    """Bytes of the lossless WebP encoding (PIL), PAIR's estimate of an image's information."""
    buf = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buf, format="webp", lossless=True, quality=quality)
    return buf.tell()


def webp_sizes(images, quality: int = 100, workers: int | None = None) -> np.ndarray:
    """WebP sizes of many images; PIL's encoder releases the GIL, so threads (default: one per core) help."""
    return np.array(runtime.thread_map(lambda im: webp_size(im, quality), images, workers), dtype=np.int64)


def bokeh(image, keeps: np.ndarray, mode: str = "rebuild", sigma: float = 10.0) -> np.ndarray:
    """Bokeh images (T, H, W, C) uint8 for keep masks (T, H, W)."""
    img = to_uint8(image)
    if mode == "rebuild":
        return np.stack(runtime.thread_map(lambda k: rebuild(img, k), keeps))
    if mode == "blur":
        g = gaussian(img, sigma)
        return np.stack([blur(img, k, blurred=g) for k in keeps])
    raise ValueError(f"unknown bokeh mode {mode!r}: use one of {MODES}")


@dataclass
class ImagePIC:
    """One image's raw PIC data: information levels (WebP bytes) and predictions, per method and threshold."""
    label: int
    info_orig: int
    info_removed: int
    softmax_orig: float
    softmax_removed: float
    correct_removed: bool
    thresholds: tuple
    info: dict = field(default_factory=dict)      # method -> (T,) bytes
    softmax: dict = field(default_factory=dict)   # method -> (T,) softmax of `label`
    correct: dict = field(default_factory=dict)   # method -> (T,) top-1 == label
    n_unique: int = 0                             # distinct bokeh images built (identical keep masks once)

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("label", "info_orig", "info_removed", "softmax_orig", "softmax_removed",
                                           "correct_removed", "n_unique")}
        d["thresholds"] = [float(t) for t in self.thresholds]
        d["info"] = {k: [int(v) for v in x] for k, x in self.info.items()}
        d["softmax"] = {k: [float(v) for v in x] for k, x in self.softmax.items()}
        d["correct"] = {k: [bool(v) for v in x] for k, x in self.correct.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ImagePIC":
        return cls(int(d["label"]), int(d["info_orig"]), int(d["info_removed"]), float(d["softmax_orig"]),
                   float(d["softmax_removed"]), bool(d["correct_removed"]), tuple(d["thresholds"]),
                   {k: np.array(x, dtype=np.int64) for k, x in d["info"].items()},
                   {k: np.array(x, dtype=np.float64) for k, x in d["softmax"].items()},
                   {k: np.array(x, dtype=bool) for k, x in d["correct"].items()}, int(d.get("n_unique", 0)))

    def sic(self, method, min_pred_value=0.8, keep_monotonous=True, num_points=1000):
        """(curve_y on 1,001 points, None) or (None, why the image is skipped)."""
        if self.softmax_orig < min_pred_value:
            return None, "original softmax below min_pred_value"
        return _curve(self.info[method], self.softmax[method], self.info_removed, self.info_orig,
                      self.softmax_removed, self.softmax_orig, keep_monotonous, num_points)

    def aic(self, method, keep_monotonous=True, num_points=1000):
        return _curve(self.info[method], self.correct[method].astype(float), self.info_removed, self.info_orig,
                      float(self.correct_removed), 1.0, keep_monotonous, num_points)


def _curve(info, pred, info0, info1, pred0, pred1, keep_monotonous=True, num_points=1000):
    """PAIR's normalisation: information and prediction rescaled between the fully removed image (0) and the
    original (1), clipped; running maximum of the prediction; (0, 0) and (1, 1) added; linear interpolation
    onto `num_points` + 1 evenly spaced information levels."""
    if info0 >= info1:
        return None, "fully removed image has no less information than the original"
    if pred0 >= pred1:
        return None, "fully removed image scores no lower than the original"
    x = np.clip((np.asarray(info, float) - info0) / (info1 - info0), 0.0, 1.0)
    y = np.clip((np.asarray(pred, float) - pred0) / (pred1 - pred0), 0.0, 1.0)
    if keep_monotonous:
        y = np.maximum.accumulate(np.maximum(y, 0.0))
    xs = np.concatenate([x, [0.0, 1.0]])
    ys = np.concatenate([y, [0.0, 1.0]])
    f = interpolate.interp1d(xs, ys)
    grid = np.linspace(0.0, 1.0, num_points, endpoint=False)
    return np.append(f(grid), 1.0), None


def curve_x(num_points: int = 1000) -> np.ndarray:
    return np.append(np.linspace(0.0, 1.0, num_points, endpoint=False), 1.0)


def area(curve_y, num_points: int = 1000) -> float:
    """Area under a curve given on `curve_x(num_points)` (trapezoid rule)."""
    return float(np.trapezoid(np.asarray(curve_y, float), curve_x(num_points)))


def aggregate(curves, how: str = "median") -> tuple[np.ndarray, float]:
    """Per-point median (or mean) of per-image curves and the area under it; (None, nan) if there are none."""
    curves = [c for c in curves if c is not None]
    if not curves:
        return None, float("nan")
    ys = np.stack(curves)
    if how == "median":
        y = np.median(ys, axis=0)
    elif how == "mean":
        y = ys.mean(0)
    else:
        raise ValueError(f"unknown aggregation {how!r}: use 'median' or 'mean'")
    return y, area(y, ys.shape[1] - 1)


def pic_image(model, image: torch.Tensor, saliency: dict, *, thresholds=THRESHOLDS, mode: str = "rebuild",
              random: np.ndarray | None = None, sigma: float = 10.0, webp_quality: int = 100,
              batch_size: int | None = None, cache: bool = False) -> tuple[ImagePIC, dict | None]:
    """Raw PIC data of one image (C, H, W) in [0, 1] for every 2-D saliency map in `saliency` (name -> (H, W)).

    The image is quantised to uint8 first (PAIR's input format); the label is the model's own top-1 on it.
    All bokeh images (every method, every threshold) plus the original and the fully removed image go through
    the model in one batched pass; identical keep masks are built and classified once. Returns the ImagePIC and
    the bokeh images {method: (T, H, W, C) uint8}.

    cache=True keeps the ImagePIC in data/cache/pic under a content hash of everything it depends on (model
    weights, image, maps, thresholds, mode, seed mask, sigma, WebP quality, library versions, this module's
    source); on a hit the bokeh images are not rebuilt and None is returned in their place.
    """
    if mode not in MODES:
        raise ValueError(f"unknown bokeh mode {mode!r}: use one of {MODES}")
    if not saliency:
        raise ValueError("saliency must map at least one method name to a 2-D map")
    img = to_uint8(image)
    h, w = img.shape[:2]
    if random is None and mode == "rebuild":
        raise ValueError("mode 'rebuild' needs the random seed mask (pic.random_mask(h, w, 0.01, seed))")
    empty = np.zeros((h, w), dtype=bool) | (random if random is not None else False)
    names = list(saliency)
    maps = {}
    for name in names:
        s = saliency[name]
        s = s.detach().cpu().numpy() if isinstance(s, torch.Tensor) else np.asarray(s)
        if s.shape != (h, w):
            raise ValueError(f"saliency[{name!r}] must be (H, W) = {(h, w)}; got {s.shape}")
        maps[name] = s
    path = None
    if cache:
        from .runtime import cache_dir, digest, versions
        key = digest(model, img, maps, list(thresholds), mode, random, sigma, webp_quality, versions(),
                     Path(__file__).read_text())
        path = cache_dir("pic") / f"{mode}_{key}.json"
        if path.is_file():
            return ImagePIC.from_dict(json.loads(path.read_text())), None
    keeps = [empty]
    for name in names:
        keeps.extend(keep_masks(maps[name], thresholds, random))
    # Identical keep masks (e.g. two region methods that keep the same regions) are made once.
    first, where = {}, []
    for i, k in enumerate(keeps):
        where.append(first.setdefault(np.packbits(k).tobytes(), i))
    unique = sorted(set(where))
    blurred = gaussian(img, sigma) if mode == "blur" else None

    def make(i):    # one task: a bokeh image (i = -1: the original) and its WebP size, so threads overlap both
        b = img if i < 0 else rebuild(img, keeps[i]) if mode == "rebuild" else blur(img, keeps[i], blurred=blurred)
        return b, webp_size(b, webp_quality)

    # Most kept pixels first: those rebuilds take longest.
    order = [-1] + sorted(unique, key=lambda i: -int(keeps[i].sum()))
    done = dict(zip(order, runtime.thread_map(make, order)))
    bok = np.stack([done[where[i]][0] for i in range(len(keeps))])
    sizes = np.array([done[-1][1]] + [done[where[i]][1] for i in range(len(keeps))], dtype=np.int64)
    T = len(thresholds)
    images = {n: bok[1 + i * T: 1 + (i + 1) * T] for i, n in enumerate(names)}
    batch = np.concatenate([img[None], np.stack([done[i][0] for i in unique])])
    prob_u = model.predict(to_tensor(batch), batch_size=batch_size)
    pos = {i: 1 + j for j, i in enumerate(unique)}
    prob = prob_u[[0] + [pos[where[i]] for i in range(len(keeps))]]
    label = int(prob[0].argmax())
    sm = prob[:, label].numpy().astype(np.float64)
    top1 = (prob.argmax(1) == label).numpy()
    out = ImagePIC(label, int(sizes[0]), int(sizes[1]), float(sm[0]), float(sm[1]), bool(top1[1]), tuple(thresholds))
    for i, n in enumerate(names):
        sl = slice(2 + i * T, 2 + (i + 1) * T)
        out.info[n], out.softmax[n], out.correct[n] = sizes[sl], sm[sl], top1[sl]
    out.n_unique = len(unique)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(out.as_dict()))
        os.replace(tmp, path)
    return out, images


# ------------------------------------------------------------------------- the paper text's definition

def text_points(r: ImagePIC, method: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """One image's PIC points as the paper's text defines them: x = WebP size of the image / the original's
    (clipped to [0, 1]); y = SIC: softmax of the class on the image / on the original (clipped to [0, 1]),
    AIC: 1 if the image keeps the class, else 0. The fully removed image and the original (x = y = 1) included,
    then one point per threshold."""
    if metric not in ("sic", "aic"):
        raise ValueError(f"metric must be 'sic' or 'aic', got {metric!r}")
    info = np.concatenate([[r.info_removed, r.info_orig], np.asarray(r.info[method], float)])
    if metric == "sic":
        y = np.concatenate([[r.softmax_removed, r.softmax_orig], np.asarray(r.softmax[method], float)])
        y = y / r.softmax_orig
    else:
        y = np.concatenate([[float(r.correct_removed), 1.0], np.asarray(r.correct[method], float)])
    return np.clip(info / r.info_orig, 0.0, 1.0), np.clip(y, 0.0, 1.0)


def text_curve(x, y, metric: str, bins: int = 20) -> tuple[np.ndarray, np.ndarray, float]:
    """The paper text's curve from pooled points (x, y) of all images (1-D, or (images, points) arrays):
    per bin of information level ([0, 1] in `bins` equal bins, the last one closed), AIC: the mean of y
    (accuracy), SIC: the median of y. Empty bins take the value interpolated linearly between the nearest
    filled bins (held flat beyond the first and last). Returns (bin centres, values, area = mean of values)."""
    x = np.asarray(x, float).ravel()
    y = np.asarray(y, float).ravel()
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"x and y must be non-empty and of one shape, got {x.shape} and {y.shape}")
    b = np.minimum((x * bins).astype(np.int64), bins - 1)
    cnt = np.bincount(b, minlength=bins)
    if metric == "aic":
        val = np.bincount(b, weights=y, minlength=bins) / np.maximum(cnt, 1)
    elif metric == "sic":
        o = np.lexsort((y, b))
        ys = y[o]
        start = np.cumsum(cnt) - cnt
        lo, hi = start + np.maximum(cnt - 1, 0) // 2, start + cnt // 2
        val = np.where(cnt > 0, 0.5 * (ys[np.minimum(lo, len(ys) - 1)] + ys[np.minimum(hi, len(ys) - 1)]), 0.0)
    else:
        raise ValueError(f"metric must be 'sic' or 'aic', got {metric!r}")
    centres = (np.arange(bins) + 0.5) / bins
    full = cnt > 0
    val = np.interp(centres, centres[full], val[full])
    return centres, val, float(val.mean())


def _fill_empty(val: np.ndarray, filled: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Row-wise np.interp(centres, centres[filled], val[filled]) for (B, bins) arrays (every row has a filled bin)."""
    B, n = val.shape
    pos = np.arange(n)
    prev = np.maximum.accumulate(np.where(filled, pos, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(filled, pos, n)[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(B)[:, None]
    p_ok, n_ok = prev >= 0, nxt < n
    vp = val[rows, np.clip(prev, 0, n - 1)]
    vn = val[rows, np.clip(nxt, 0, n - 1)]
    cp, cn = centres[np.clip(prev, 0, n - 1)], centres[np.clip(nxt, 0, n - 1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        lin = vp + (vn - vp) * np.where(cn > cp, (centres - cp) / np.where(cn > cp, cn - cp, 1), 0.0)
    return np.where(filled, val, np.where(p_ok & n_ok, lin, np.where(p_ok, vp, vn)))


def text_area_resampled(X, Y, metric: str, bins: int, idx) -> np.ndarray:
    """`text_curve`'s area on many resamples of images at once: X, Y (images, points) arrays, idx (B, n) the
    image indices of each resample (repeats allowed). Equal to [text_curve(X[i], Y[i], metric, bins)[2] for i
    in idx], without building the resampled arrays (each image weighs its multiplicity in the resample)."""
    X, Y = np.asarray(X, float), np.asarray(Y, float)
    idx = np.asarray(idx, dtype=np.int64)
    n, P = X.shape
    B = len(idx)
    W = np.zeros((B, n))
    np.add.at(W, (np.repeat(np.arange(B), idx.shape[1]), idx.ravel()), 1.0)
    b = np.minimum((X * bins).astype(np.int64), bins - 1).ravel()         # bin of every point
    img = np.repeat(np.arange(n), P)
    y = Y.ravel()
    centres = (np.arange(bins) + 0.5) / bins
    val = np.zeros((B, bins))
    cnt = np.zeros((B, bins))
    if metric == "aic":
        S = np.zeros((n, bins))
        C = np.zeros((n, bins))
        np.add.at(S, (img, b), y)
        np.add.at(C, (img, b), 1.0)
        cnt = W @ C
        val = (W @ S) / np.maximum(cnt, 1)
    elif metric == "sic":
        for k in range(bins):
            sel = np.flatnonzero(b == k)
            if not sel.size:
                continue
            sel = sel[np.argsort(y[sel], kind="stable")]
            w = W[:, img[sel]]                                      # (B, points in bin k), sorted by y
            tot = w.sum(1)
            cw = np.cumsum(w, axis=1)
            lo = (cw <= ((tot - 1) // 2)[:, None]).sum(1)
            hi = (cw <= (tot // 2)[:, None]).sum(1)
            ys = y[sel]
            last = len(sel) - 1
            val[:, k] = np.where(tot > 0, 0.5 * (ys[np.minimum(lo, last)] + ys[np.minimum(hi, last)]), 0.0)
            cnt[:, k] = tot
    else:
        raise ValueError(f"metric must be 'sic' or 'aic', got {metric!r}")
    return _fill_empty(val, cnt > 0, centres).mean(1)


def median_area_resampled(curves, idx, chunk: int = 100) -> np.ndarray:
    """The area under the per-point median curve (PAIR's Table 1 statistic) on many resamples of images:
    curves (images, points) on `curve_x`, idx (B, n) image indices per resample. Equal to
    [area(np.median(curves[i], 0)) for i in idx]."""
    curves = np.asarray(curves, float)
    idx = np.asarray(idx, dtype=np.int64)
    C = np.ascontiguousarray(curves.T)                              # (points, images)
    m = idx.shape[1]
    k = [(m - 1) // 2, m // 2]
    out = np.empty(len(idx))
    x = curve_x(curves.shape[1] - 1)
    for s in range(0, len(idx), chunk):
        part = np.sort(C[:, idx[s:s + chunk]], axis=-1)             # (points, chunk, m)
        med = 0.5 * (part[..., k[0]] + part[..., k[1]])
        out[s:s + chunk] = np.trapezoid(med.T, x, axis=1)
    return out


def median_area_difference(curves_a, curves_b, n_resamples: int = 2000, seed: int = 0, level: float = 0.95):
    """Area under the per-point median curve of `curves_a` minus that of `curves_b`, the same images (rows) in
    both, with a percentile interval from resampling the images jointly: each resample's two medians come from the
    same images, as a paired difference of Table 1's statistic needs. Returns a `stats.Interval`."""
    from . import stats
    a, b = np.asarray(curves_a, float), np.asarray(curves_b, float)
    if a.shape != b.shape or a.ndim != 2 or len(a) < 2:
        raise ValueError(f"need two (images >= 2, points) arrays of curves on the same images, got {a.shape} and {b.shape}")
    est = aggregate(list(a))[1] - aggregate(list(b))[1]
    idx = np.random.default_rng(seed).integers(0, len(a), size=(n_resamples, len(a)))
    boot = median_area_resampled(a, idx) - median_area_resampled(b, idx)
    return stats.percentile_interval(est, boot, len(a), level=level)


def text_arrays(rows, method: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, points) arrays of x and y (`text_points`) for a list of ImagePIC rows."""
    pts = [text_points(r, method, metric) for r in rows]
    return np.stack([p[0] for p in pts]), np.stack([p[1] for p in pts])


def information_level(images, reference, quality: int = 100) -> np.ndarray:
    """WebP size of each image relative to `reference`'s (1 for the reference itself)."""
    ref = webp_size(reference, quality)
    return webp_sizes(images, quality) / ref


def threshold_area(saliency, fraction: float) -> np.ndarray:
    """The top `fraction` of a 2-D saliency map (ties included), (H, W) bool; as in Fig. 10 at 20%."""
    return keep_masks(saliency, (fraction,))[0]


def localisation(saliency, mask) -> dict:
    """Table 2's localisation scores of a 2-D saliency map against a binary object mask (Cong et al. style):
    AUC (ROC, saliency as the score of 'pixel in object'), F1 at the adaptive threshold 2 x mean saliency
    (saliency min-max scaled), and MAE between the scaled saliency and the mask."""
    from scipy.stats import rankdata
    s = np.asarray(saliency, dtype=np.float64).ravel()
    m = np.asarray(mask).astype(bool).ravel()
    if s.size != m.size:
        raise ValueError(f"saliency and mask differ in size: {s.size} vs {m.size}")
    npos, nneg = int(m.sum()), int((~m).sum())
    if npos == 0 or nneg == 0:
        raise ValueError("mask must contain both object and background pixels")
    r = rankdata(s)
    auc = (r[m].sum() - npos * (npos + 1) / 2) / (npos * nneg)
    sn = (s - s.min()) / max(s.max() - s.min(), 1e-12)
    pred = sn >= min(2 * sn.mean(), 1.0)
    tp = float((pred & m).sum())
    f1 = 2 * tp / max(pred.sum() + npos, 1)
    return {"auc": float(auc), "f1": float(f1), "mae": float(np.abs(sn - m).mean())}
