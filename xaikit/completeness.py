"""Integrated Gradients' completeness axiom on a real model (Sundararajan et al. 2017): the attributions of an
image sum to f(x) - f(baseline) for the target logit f. `completeness` measures the gap per image;
`ig_pair_style` computes IG the way PAIR's `saliency` package does inside XRAI (Kapishnikov et al. 2019), to
compare its gap with the kit's Gauss-Legendre IG (notebooks 00 and 05).
"""
from __future__ import annotations

import numpy as np


def completeness(model, x, target, maps, baselines: str = "black", batch_size: int | None = None) -> dict:
    """IG's completeness on a model, per image: the sum of the attributions `maps` (N, C, H, W) against
    f(x) - f(baseline) for the target logit f (Sundararajan et al.'s axiom; for several baselines, the maps'
    mean against the mean of f over them). `baselines`: 'black', 'white' or 'black_white' ([0, 1] images).

    Returns per image: `attr_sum`, `delta` (f(x) - f(baseline)), `gap` (attr_sum - delta) and `rel_gap`
    (|gap| / |delta|)."""
    import torch

    from . import attribution, models
    x = x.detach().float()
    t = torch.as_tensor(target).long().flatten()
    if t.numel() == 1:
        t = t.expand(len(x))
    if len(t) != len(x) or maps.shape != x.shape:
        raise ValueError(f"need one target and one map per image: x {tuple(x.shape)}, maps {tuple(maps.shape)}, "
                         f"targets {len(t)}")
    base = attribution.baseline(baselines, x)                           # (K, N, C, H, W)
    rows = torch.arange(len(x))
    fx = models.logits(model, x, batch_size)[rows, t].double().numpy()
    fb = np.mean([models.logits(model, b, batch_size)[rows, t].double().numpy() for b in base], axis=0)
    s = maps.double().sum((1, 2, 3)).numpy()
    delta = fx - fb
    return {"attr_sum": s, "delta": delta, "gap": s - delta,
            "rel_gap": np.abs(s - delta) / np.maximum(np.abs(delta), 1e-12)}


def ig_pair_style(model, x, target, baselines: str = "black", steps: int = 100, chunk: int = 25):
    """IG as PAIR's `saliency` computes it inside XRAI: `steps` points alpha = linspace(0, 1, steps), both ends
    included, gradients summed and divided by `steps`; several baselines averaged. For comparing completeness
    with the kit's Gauss-Legendre IG. x (N, C, H, W) in [0, 1]; returns (N, C, H, W)."""
    import torch

    from . import attribution
    model.eval()
    t = torch.as_tensor(target).long().flatten()
    if t.numel() == 1:
        t = t.expand(len(x))
    alphas = torch.linspace(0.0, 1.0, steps)
    out = torch.zeros_like(x, dtype=torch.float32)
    base = attribution.baseline(baselines, x)
    for b in base:
        for i in range(len(x)):
            total = torch.zeros_like(x[i], dtype=torch.float32)
            for a in alphas.split(chunk):
                z = (b[i] + a[:, None, None, None] * (x[i] - b[i])).detach().requires_grad_(True)
                g, = torch.autograd.grad(model(z)[:, int(t[i])].sum(), z)
                total += g.sum(0)
            out[i] += (x[i] - b[i]) * total / steps
    return out / len(base)
