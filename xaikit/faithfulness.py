"""Perturbation metrics of saliency maps (Tomsett et al. 2020): AOPC with MoRF / LeRF pixel deletion, its
random-ordering baseline, and the faithfulness F of Alvarez-Melis & Jaakkola.

All functions work on image batches x (N, C, H, W) in [0, 1] and 2-D relevance maps (N, H, W); a "pixel" is
one spatial position (all channels are replaced together). Every perturbation step of every image goes through
the model in large batches; f is the softmax probability (computed in float64 from the logits, so that the
tiny output changes of confident images are not rounded away) of a fixed target class, by default the class
predicted on the unperturbed image.
"""
from __future__ import annotations

import numpy as np
import torch

from .models import forward_plan, logits, predicted_class
from .runtime import progress

ORDERS = ("morf", "lerf")
PERTURBATIONS = ("mean", "random")


def _check_images(x):
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"x must be a float tensor (N, C, H, W); got {getattr(x, 'shape', type(x))}")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or inf")


def _check_maps(maps, x=None):
    if not isinstance(maps, torch.Tensor) or maps.ndim != 3:
        raise ValueError(f"relevance maps must be (N, H, W); got {getattr(maps, 'shape', type(maps))} "
                         "(reduce (N, C, H, W) maps with attribution.to_2d first)")
    if x is not None and (maps.shape[0] != x.shape[0] or maps.shape[1:] != x.shape[2:]):
        raise ValueError(f"maps {tuple(maps.shape)} do not match images {tuple(x.shape)}")
    if not torch.isfinite(maps).all():
        raise ValueError("relevance maps contain NaN or inf")


def pixel_order(maps: torch.Tensor, order: str = "morf") -> torch.Tensor:
    """Flat pixel indices (N, H*W): 'morf' most relevant first, 'lerf' least relevant (most negative) first.

    Ties keep raster order (stable sort), so the order is deterministic.
    """
    _check_maps(maps)
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    flat = maps.flatten(1)
    return torch.argsort(flat, dim=1, descending=order == "morf", stable=True)


def random_orders(n_orders: int, n_pixels: int, seed: int = 0) -> torch.Tensor:
    """`n_orders` random permutations of the pixel indices (n_orders, n_pixels), from `seed`."""
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(n_pixels, generator=g) for _ in range(n_orders)])


def replacement(x: torch.Tensor, kind: str = "mean", mean=None, seed: int = 0) -> torch.Tensor:
    """Values a perturbed pixel takes, (N, C, H, W): 'mean' = the data set mean colour `mean` (C,) everywhere;
    'random' = a uniform random colour per pixel, drawn once per image (from `seed`) and reused by every
    method and step, so that methods differ only in which pixels they pick."""
    _check_images(x)
    if kind == "mean":
        if mean is None:
            raise ValueError("kind='mean' needs the data set mean colour: mean=(r, g, b)")
        m = torch.as_tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
        if m.shape[1] != x.shape[1]:
            raise ValueError(f"mean has {m.shape[1]} channels, images have {x.shape[1]}")
        return m.expand_as(x).clone()
    if kind == "random":
        g = torch.Generator().manual_seed(seed)
        return torch.rand(x.shape, generator=g, dtype=x.dtype)
    raise ValueError(f"perturbation must be one of {PERTURBATIONS}, got {kind!r}")


def perturb(x: torch.Tensor, order: torch.Tensor, k: int, values: torch.Tensor) -> torch.Tensor:
    """x with the first k pixels of `order` (N, P) set to `values` (N, C, H, W)."""
    _check_images(x)
    n, c, h, w = x.shape
    mask = torch.zeros(n, h * w, dtype=torch.bool)
    mask.scatter_(1, order[:, :k], True)
    return torch.where(mask.view(n, 1, h, w), values, x)


def probabilities(model, x: torch.Tensor, target: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """Float64 softmax probability of class target[i] for each image x[i], batched (default: the model's
    `models.forward_plan`), no gradient."""
    p = torch.softmax(logits(model, x, batch_size).double(), 1)
    return p.gather(1, torch.as_tensor(target).long().view(-1, 1)).squeeze(1)


def predicted(model, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    return predicted_class(model, x, batch_size)


def masked_probabilities(model, x: torch.Tensor, values: torch.Tensor, target: torch.Tensor, n_cols: int,
                         masks, batch_size: int | None = None, desc: str | None = None) -> torch.Tensor:
    """f(x_i with the pixels of masks(i, k) set to values_i) for every image i and column k: (N, n_cols) float64.

    masks(images, cols) -> bool (B, H*W) for B (image, column) pairs. The pairs stream through the model in
    batches of the forward plan's size (built on the fly, never all at once), so every forward pass is full
    whatever the number of steps per image."""
    n, c, h, w = x.shape
    plan = forward_plan(model, (c, h, w))
    bs = batch_size or plan.batch_size
    # Build about 16 MB of perturbed images at a time (whole forward batches): fewer, larger tensor ops.
    block = bs * max(1, (16 << 20) // (bs * c * h * w * x.element_size()))
    if plan.channels_last:   # gathered rows come out channels-last, so the forward needs no extra copy
        x, values = (t.contiguous(memory_format=torch.channels_last) for t in (x, values))
    target = torch.as_tensor(target).long().view(-1)
    out = torch.empty(n * n_cols, dtype=torch.float64)
    starts = range(0, n * n_cols, block)
    for s in (progress(starts, desc=desc) if desc else starts):
        pairs = torch.arange(s, min(s + block, n * n_cols))
        ii, kk = pairs // n_cols, pairs % n_cols
        m = masks(ii, kk).view(-1, 1, h, w)
        batch = torch.where(m, values[ii], x[ii])
        out[s:s + len(pairs)] = probabilities(model, batch, target[ii], bs)
    return out.view(n, n_cols)


def _order_ranks(orders: torch.Tensor, n_pixels: int, upto: int) -> torch.Tensor:
    """Position of every pixel in its image's order (N, P) int32; pixels after the first `upto` get `upto`."""
    n = orders.shape[0]
    rank = torch.full((n, n_pixels), upto, dtype=torch.int32)
    rank.scatter_(1, orders[:, :upto], torch.arange(upto, dtype=torch.int32).expand(n, -1).contiguous())
    return rank


def deletion_curves(model, x: torch.Tensor, orders: torch.Tensor, values: torch.Tensor, steps: int = 100,
                    target: torch.Tensor | None = None, batch_size: int | None = None, desc: str | None = None,
                    pixels_per_step: int = 1) -> torch.Tensor:
    """f(x^(k)) for k = 0..steps, (N, steps + 1): pixels orders[i, :k * pixels_per_step] of image i set to
    values[i].

    Column 0 is the unperturbed image. target defaults to the class predicted on x. Every (image, step) pair
    goes through the model in full batches (`masked_probabilities`).
    """
    _check_images(x)
    n, c, h, w = x.shape
    orders = torch.as_tensor(orders, dtype=torch.long)
    if orders.ndim == 1:
        orders = orders.expand(n, -1)
    if pixels_per_step < 1:
        raise ValueError(f"pixels_per_step must be >= 1; got {pixels_per_step}")
    upto = min(steps * pixels_per_step, h * w)
    if orders.shape[0] != n or orders.shape[1] < upto or steps < 0:
        raise ValueError(f"orders must be (N, >= steps * pixels_per_step) = ({n}, >= {upto}); "
                         f"got {tuple(orders.shape)}")
    if values.shape != x.shape:
        raise ValueError(f"values must have x's shape {tuple(x.shape)}; got {tuple(values.shape)}")
    target = predicted(model, x, batch_size) if target is None else torch.as_tensor(target).long().view(-1)
    rank = _order_ranks(orders, h * w, upto)
    counts = (torch.arange(steps + 1) * pixels_per_step).clamp(max=h * w).to(torch.int32)
    return masked_probabilities(model, x, values, target, steps + 1,
                                lambda ii, kk: rank[ii] < counts[kk, None], batch_size, desc)


def region_order(maps: torch.Tensor, patch_size: int, order: str = "morf") -> torch.Tensor:
    """Pixel order (N, H*W) by regions: non-overlapping patch_size x patch_size patches sorted by the sum of
    their relevance ('morf': largest first, 'lerf': smallest first; ties in raster order), each patch's pixels
    consecutive in raster order. With `deletion_curves(..., pixels_per_step=patch_size**2)` this is the region
    perturbation of Samek et al. (2017) (Quantus's RegionPerturbation on patches that tile the image)."""
    _check_maps(maps)
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    n, h, w = maps.shape
    p = int(patch_size)
    if p < 1 or h % p or w % p:
        raise ValueError(f"patch_size must divide the map size {h}x{w}; got {patch_size}")
    patch_sums = maps.reshape(n, h // p, p, w // p, p).sum((2, 4)).flatten(1)           # (N, patches)
    patch_rank = torch.argsort(patch_sums, dim=1, descending=order == "morf", stable=True)
    pix = torch.arange(h * w).view(h // p, p, w // p, p).permute(0, 2, 1, 3).reshape(-1, p * p)  # patch -> pixels
    return pix[patch_rank].flatten(1)


def aopc(curves: torch.Tensor) -> torch.Tensor:
    """AOPC after L steps for every L = 0..steps, per image: (1 / (L + 1)) sum_{k=1..L} f(x^(0)) - f(x^(k)).

    (Samek et al. 2017, as written in Tomsett et al.; AOPC[:, 0] = 0.) curves: (N, steps + 1) -> (N, steps + 1).
    """
    if curves.ndim != 2:
        raise ValueError(f"curves must be (N, steps + 1); got {tuple(curves.shape)}")
    drop = curves[:, :1] - curves
    return drop.cumsum(1) / torch.arange(1, curves.shape[1] + 1, dtype=curves.dtype)


def random_baseline(model, x: torch.Tensor, values: torch.Tensor, n_orders: int = 100, steps: int = 100,
                    target: torch.Tensor | None = None, seed: int = 0, batch_size: int | None = None,
                    interval: float = 0.95) -> dict:
    """AOPC of `n_orders` random pixel orderings (the same orderings for every image).

    Returns per_order (n_orders, steps + 1): mean AOPC over images of each ordering; mean (steps + 1,);
    lo, hi: the central `interval` of the per-ordering means (empirical percentiles); per_image (N, steps + 1):
    each image's AOPC averaged over the orderings.
    """
    _check_images(x)
    n, _, h, w = x.shape
    target = predicted(model, x, batch_size) if target is None else torch.as_tensor(target).long().view(-1)
    orders = random_orders(n_orders, h * w, seed)
    per_image = []
    for r in progress(range(n_orders), desc="random orderings"):
        per_image.append(aopc(deletion_curves(model, x, orders[r], values, steps, target, batch_size)))
    per_image = torch.stack(per_image)  # (R, N, L + 1)
    per_order = per_image.mean(1)
    q = torch.tensor([(1 - interval) / 2, (1 + interval) / 2], dtype=per_order.dtype)
    lo, hi = torch.quantile(per_order, q, dim=0)
    return dict(per_order=per_order, mean=per_order.mean(0), lo=lo, hi=hi, per_image=per_image.mean(0),
                orders=orders)


def single_pixel_deltas(model, x: torch.Tensor, pixels: torch.Tensor, values: torch.Tensor,
                        target: torch.Tensor | None = None, batch_size: int | None = None) -> torch.Tensor:
    """Delta_i = f(x) - f(x_i) for each pixel i in `pixels` (P,) perturbed alone: (N, P)."""
    _check_images(x)
    n, c, h, w = x.shape
    pixels = torch.as_tensor(pixels, dtype=torch.long).view(-1)
    if pixels.numel() == 0 or pixels.min() < 0 or pixels.max() >= h * w:
        raise ValueError(f"pixels must be flat indices in [0, {h * w}); got {pixels.numel()} of them")
    if values.shape != x.shape:
        raise ValueError(f"values must have x's shape {tuple(x.shape)}; got {tuple(values.shape)}")
    target = predicted(model, x, batch_size) if target is None else torch.as_tensor(target).long().view(-1)
    where = torch.cat([torch.tensor([-1]), pixels])   # column 0: unperturbed
    cols = torch.arange(h * w)
    f = masked_probabilities(model, x, values, target, len(where),
                             lambda ii, kk: cols[None, :] == where[kk, None], batch_size)
    return f[:, :1] - f[:, 1:]


def pearson_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each row of a with the same row of b; NaN where either row is constant."""
    a, b = a.double(), b.double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    den = (a.square().sum(1) * b.square().sum(1)).sqrt()
    r = (a * b).sum(1) / den
    return torch.where(den > 0, r, torch.full_like(r, float("nan")))


def faithfulness(maps: torch.Tensor, pixels: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    """F per image (N,): Pearson correlation between relevance maps[i] at `pixels` and deltas[i] (N, P).

    NaN where the relevance or the output change is constant over the chosen pixels (F is undefined there).
    """
    _check_maps(maps)
    pixels = torch.as_tensor(pixels, dtype=torch.long).view(-1)
    if deltas.shape != (maps.shape[0], len(pixels)):
        raise ValueError(f"deltas must be (N, P) = ({maps.shape[0]}, {len(pixels)}); got {tuple(deltas.shape)}")
    return pearson_rows(maps.flatten(1)[:, pixels], deltas)


def choose_pixels(n: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """n distinct flat pixel positions drawn at random (the same set is used for every image)."""
    if not 0 < n <= height * width:
        raise ValueError(f"need 0 < n <= {height * width} pixels, got {n}")
    return torch.from_numpy(np.sort(np.random.default_rng(seed).choice(height * width, n, replace=False)))
