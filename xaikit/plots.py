"""Figure helpers: attribution maps drawn the same way in every notebook, saved once."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt  # noqa: F401  (notebooks use plots.plt)
import numpy as np
import torch


def image(ax, x: torch.Tensor, title: str | None = None) -> None:
    """Draw one (C, H, W) image in [0, 1]."""
    arr = x.detach().cpu().permute(1, 2, 0).numpy()
    if arr.shape[-1] == 1:
        ax.imshow(arr.squeeze(-1), cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(arr.clip(0, 1))
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)


def heatmap(ax, m: torch.Tensor, title: str | None = None, signed: bool = True, clip: float = 99.5):
    """Draw one 2-D map: signed maps red (+) / blue (-), unsigned maps in 'inferno'.

    The colour scale ends at the `clip` percentile of |value| (100 = the maximum), so a few extreme pixels do
    not wash the map out.
    """
    m = m.detach().cpu().float().numpy()
    v = float(np.percentile(np.abs(m), clip)) or float(np.abs(m).max()) or 1.0
    if signed:
        im = ax.imshow(m, cmap="bwr", vmin=-v, vmax=v)
    else:
        im = ax.imshow(m, cmap="inferno", vmin=float(m.min()) if m.min() < 0 else 0.0, vmax=v)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)
    return im


def save(fig, path: str | Path, dpi: int = 120) -> Path:
    """Save as PNG (tight, white background), recompressed losslessly by oxipng (a third smaller; same
    pixels); returns the path."""
    import oxipng
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight", facecolor="white")
    oxipng.optimize(tmp, level=2)
    tmp.replace(path)
    from .results import ShownPath
    return ShownPath(path)
