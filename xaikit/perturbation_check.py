"""The Perturbation-epsilon sanity check (Kapishnikov et al. 2019, section 3, Fig. 4) on two-pixel functions.

f(x1, x2) is the bicubic interpolation of a 20 x 20 grid of nodes over [0, 255]^2 with 1.0 at (127, 127)
and uniform [0, 0.5] values elsewhere. The nodes are evenly spaced on [0, 127] (10 nodes) and on [127, 255]
(the other 10), so that 127 is a node; the paper does not say how it put 127 on a 20-node grid.
Interpolation: scipy's RectBivariateSpline of degree 3, through the nodes (s = 0).

Attributions of the input (127, 127), with the inputs scaled to [0, 1] (x / 255) as images are:
Gradient, Gradient x Input, and Integrated Gradients from the black baseline (0, 0) along the straight path.
The axiom: attr(x_i) >= epsilon * delta_y_i, where delta_y_i = f(x) - f(x with x_i = 0).

IG's completeness axiom on a real model is checked in `xaikit.completeness`.
"""
from __future__ import annotations

import numpy as np
from scipy.interpolate import RectBivariateSpline

PEAK = 127.0
NODES = np.concatenate([np.linspace(0.0, PEAK, 10), np.linspace(PEAK, 255.0, 11)[1:]])


def two_pixel_function(rng: np.random.Generator, low: float = 0.0, high: float = 0.5) -> RectBivariateSpline:
    """One sampled f: node values uniform [low, high], 1.0 at the peak node, bicubic spline through them."""
    z = rng.uniform(low, high, size=(len(NODES), len(NODES)))
    k = int(np.flatnonzero(NODES == PEAK)[0])
    z[k, k] = 1.0
    return RectBivariateSpline(NODES, NODES, z, kx=3, ky=3, s=0)


def attributions(f: RectBivariateSpline, x=(PEAK, PEAK), n_steps: int = 256) -> dict:
    """Attributions of the two inputs (in [0, 1] units, i.e. per x/255) under three methods, and the
    removal effects delta_y_i. IG uses the midpoint rule with `n_steps` points from the black baseline."""
    x1, x2 = float(x[0]), float(x[1])
    g = np.array([f.ev(x1, x2, dx=1), f.ev(x1, x2, dy=1)]) * 255.0   # df / d(x / 255)
    xin = np.array([x1, x2]) / 255.0
    alphas = (np.arange(n_steps) + 0.5) / n_steps
    path_g = np.stack([f.ev(alphas * x1, alphas * x2, dx=1), f.ev(alphas * x1, alphas * x2, dy=1)]) * 255.0
    ig = xin * path_g.mean(1)
    y = float(f.ev(x1, x2))
    delta = np.array([y - float(f.ev(0.0, x2)), y - float(f.ev(x1, 0.0))])
    return {"gradient": g, "gradient_x_input": g * xin, "integrated_gradients": ig, "delta_y": delta,
            "f_x": y, "f_baseline": float(f.ev(0.0, 0.0))}


def run(n_functions: int = 1000, seed: int = 0, epsilons=(0.01, 0.05, 0.1), n_steps: int = 256) -> dict:
    """Sample `n_functions` functions and check the axiom for each method.

    Returns per method: the (n, 2) attributions, and for each epsilon the fraction of functions where x1 or x2
    fails attr(x_i) >= epsilon * delta_y_i; plus the IG sum over both pixels and f(peak) - f(baseline), which
    completeness says must agree.
    """
    if n_functions < 1:
        raise ValueError("n_functions must be positive")
    rng = np.random.default_rng(seed)
    rows = [attributions(two_pixel_function(rng), n_steps=n_steps) for _ in range(n_functions)]
    out = {"delta_y": np.stack([r["delta_y"] for r in rows]),
           "f_peak": np.array([r["f_x"] for r in rows]), "f_baseline": np.array([r["f_baseline"] for r in rows])}
    for m in ("gradient", "gradient_x_input", "integrated_gradients"):
        a = np.stack([r[m] for r in rows])
        out[m] = a
        out[f"{m}_fail"] = {float(e): float((a < e * out["delta_y"]).any(1).mean()) for e in epsilons}
    out["ig_sum"] = out["integrated_gradients"].sum(1)
    out["ig_completeness_gap"] = float(np.abs(out["ig_sum"] - (out["f_peak"] - out["f_baseline"])).max())
    return out


def surface(f: RectBivariateSpline, n: int = 256) -> np.ndarray:
    """f on an n x n grid over [0, 255]^2 (rows: x1), for the figure."""
    g = np.linspace(0, 255, n)
    return f(g, g)


def failures(out: dict, method: str, epsilon: float) -> np.ndarray:
    """Per function (of a `run` result): True where x1 or x2 fails attr(x_i) >= epsilon * delta_y_i."""
    return (out[method] < epsilon * out["delta_y"]).any(1)


def region_failures(out: dict, epsilon: float) -> np.ndarray:
    """Per function: True where IG summed over both pixels (the region) fails the axiom for removing both,
    attr(x1) + attr(x2) >= epsilon * (f(peak) - f(0, 0))."""
    return out["ig_sum"] < epsilon * (out["f_peak"] - out["f_baseline"])
