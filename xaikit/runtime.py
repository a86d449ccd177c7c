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
    """[fn(i) for i in items], in `workers` threads (default: torch's thread count, at most one per core) when
    there is more than one; for work that releases the GIL (compiled loops, Qhull, image encoders). Results keep
    the order of `items`. torch.set_num_threads(1) thus makes the whole kit single-threaded."""
    items = list(items)
    workers = min(workers or min(cpu_cores(), torch.get_num_threads()), len(items))
    if workers <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(fn, items))


def digest(*parts) -> str:
    """A content hash (16 hex digits) of tensors, modules (their state dicts, names included), arrays and
    JSON-able values, in order: the key of every on-disk cache, so a changed input can never read a stale file."""
    import hashlib
    import json

    from torch import nn
    h = hashlib.sha1()
    for p in parts:
        if isinstance(p, torch.Tensor):
            t = p.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes())
        elif isinstance(p, np.ndarray):
            h.update(f"{p.dtype}{p.shape}".encode())
            h.update(np.ascontiguousarray(p).tobytes())
        elif isinstance(p, nn.Module):
            for k, v in sorted(p.state_dict().items()):
                h.update(k.encode())
                h.update(v.detach().cpu().contiguous().numpy().tobytes())
        elif isinstance(p, dict):   # keys sorted; values may hold tensors (baselines), hashed by content
            h.update(b"{")
            for k in sorted(p, key=str):
                h.update(digest(str(k), p[k]).encode())
            h.update(b"}")
        elif isinstance(p, (list, tuple)) and any(isinstance(v, (torch.Tensor, np.ndarray, nn.Module, dict))
                                                  for v in p):
            h.update(b"[" + b",".join(digest(v).encode() for v in p) + b"]")
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def cache_dir(kind: str):
    """data/cache/<kind> (under $XAIKIT_DATA when set): what is expensive and reused, keyed by `digest`."""
    from .data import data_root
    return data_root() / "cache" / kind


def save_atomic(obj, path) -> None:
    """torch.save to a temporary file beside `path`, then rename: a reader never sees half a file."""
    from pathlib import Path
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
