"""What every benchmark script shares: thread setup, alternating timings, the forward ceiling, the JSON record."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def parser(doc: str, **sizes) -> argparse.ArgumentParser:
    """The options every benchmark takes (--threads, --repeats, --seed, --out) plus its own sizes: name=(default,
    help)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: one per core)")
    for name, (default, help_) in sizes.items():
        ap.add_argument("--" + name.replace("_", "-"), type=int, default=default, help=help_)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    return ap


def cifar_cnn():
    """The CIFAR-10 CNN of 02's architecture the committed benchmark files were measured on (its first, 12-epoch
    training; speed does not depend on the weights), in eval mode; (model, checkpoint file name)."""
    from xaikit import data, models, results
    model = models.cifar_cnn(data.CIFAR10_CLASSES)
    ckpt = results.REPO / "checkpoints" / "cifar_cnn_ae2b1ee1e0.pt"
    model.load_state_dict(torch.load(ckpt, weights_only=True)["state_dict"])
    return model.eval(), ckpt.name


def set_threads(n: int) -> int:
    """n torch threads (0: one per core); the kit's own thread pools follow torch's count."""
    from xaikit import runtime
    n = n or runtime.cpu_cores()
    torch.set_num_threads(n)
    return n


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def alternate(jobs: dict, repeats: int, warmup: bool = False) -> tuple[dict, dict]:
    """Run every job `repeats` times, interleaved (a busy moment slows all alike), after one untimed call of
    each with `warmup` (first-call costs: kernel selection, allocations); returns (last output of each, median
    seconds of each)."""
    for fn in jobs.values() if warmup else ():
        fn()
    out, times = {}, {k: [] for k in jobs}
    for _ in range(repeats):
        for k, fn in jobs.items():
            out[k], t = timed(fn)
            times[k].append(t)
    return out, {k: float(np.median(v)) for k, v in times.items()}


def forward_ceiling(model, shape, seconds: float = 3.0) -> dict:
    """The model's best forward throughput here: its forward plan, re-measured now on pre-built images (no
    perturbation work at all), so that a metric's images/s can be read as a fraction of it."""
    from xaikit import models
    plan = models.forward_plan(model, shape)
    n = max(4 * plan.batch_size, int(plan.images_per_s * seconds) // plan.batch_size * plan.batch_size)
    x = torch.rand((n,) + tuple(shape), generator=torch.Generator().manual_seed(0))
    models.logits(model, x[:plan.batch_size])
    _, t = alternate({"f": lambda: models.logits(model, x)}, 3)
    return dict(batch_size=plan.batch_size, channels_last=plan.channels_last, plan_images_per_s=plan.images_per_s,
                images_per_s=n / t["f"], sweep=[list(r) for r in plan.sweep])


def machine() -> dict:
    from xaikit import runtime
    return runtime.versions() | dict(hardware=runtime.hardware(), cpu_cores=runtime.cpu_cores(),
                                     torch_threads=torch.get_num_threads(), load_average=list(os.getloadavg()))


def write(record: dict, out: str | None, default_name: str) -> Path:
    """benchmarks/<default_name>.<cpu|gpu>-<threads>threads.json unless --out says otherwise."""
    from xaikit import results
    if out is None:
        kind = "gpu" if torch.cuda.is_available() else "cpu"
        out = HERE / f"{default_name}.{kind}-{torch.get_num_threads()}threads.json"
    results.write_json(record, Path(out))
    print(f"wrote {out}")
    return Path(out)


def show(rows: list[dict], keys: list[str]) -> None:
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k]) for k in keys), flush=True)
