"""Seeds, devices, progress bars and library versions: what every notebook needs before it starts."""
from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import random
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

# Captum imports tqdm.auto, which warns "IProgress not found" in a kernel without ipywidgets. The kit's own bars
# are plain text (`progress`), so that notice says nothing to a reader of a notebook's output.
warnings.filterwarnings("ignore", message="IProgress not found")

TRACKED_LIBRARIES = ("torch", "torchvision", "captum", "zennit", "timm", "numpy", "scipy", "scikit-image",
                     "gmic", "krippendorff", "saliency", "papermill")


def seed_all(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


@contextlib.contextmanager
def seeded(seed: int | None):
    """Run a block under its own seed without disturbing the global random state."""
    if seed is None:
        yield
        return
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    np_state, py_state = np.random.get_state(), random.getstate()
    # Captum draws from NumPy too (GradientShap's path coefficients), so seed all three.
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


def device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def progress(iterable=None, **kwargs):
    """A tqdm bar that behaves in papermill output and logs: plain text on stdout, few refreshes.

    Deliberately tqdm.std, not tqdm.auto: with ipywidgets installed (JupyterLab) tqdm.auto would draw a widget,
    which an executed notebook stores as an opaque widget reference instead of text."""
    from tqdm.std import tqdm
    kwargs.setdefault("mininterval", 5.0)
    kwargs.setdefault("ncols", 90)
    kwargs.setdefault("ascii", True)
    kwargs.setdefault("file", sys.stdout)
    return tqdm(iterable, **kwargs)


def versions() -> dict:
    """Versions of Python and the libraries a number may depend on (absent ones left out)."""
    out = {"python": platform.python_version()}
    for lib in TRACKED_LIBRARIES:
        try:
            out[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def hardware() -> str:
    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return f"CPU: {torch.get_num_threads()} threads ({platform.machine()})"


def cpu_cores() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def thread_map(fn, items, workers: int | None = None) -> list:
    """[fn(i) for i in items], in `workers` threads (default: one per core) when there is more than one; for
    work that releases the GIL (compiled loops, Qhull, image encoders). Results keep the order of `items`."""
    items = list(items)
    workers = min(workers or cpu_cores(), len(items))
    if workers <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(fn, items))
