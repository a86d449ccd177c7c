"""Shared fixtures: each notebook runs once per test session in the smoke profile, into a temporary root.

The smoke runs the collected tests need start at the beginning of the session, two at a time in their own
processes (the machine's two cores), while the unit tests run; a test that needs one waits for it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from xaikit import results
from xaikit.run import NOTEBOOKS

# A forward plan measured under load is re-measured once the machine is idle; within a test session that would
# change batch sizes (and so the last float32 bits) between two runs that are compared: keep the first plan.
os.environ.setdefault("XAIKIT_PLAN_BUSY", "inf")
# The unit tests share the two cores with two smoke runs of one thread each: with two threads of its own, torch's
# OpenMP workers here spin against those processes (one APEM test took 110 s that way, 9 s alone).
torch.set_num_threads(1)
# The environment every smoke run starts with, as it was when the session began: a unit test that sets a variable
# for a moment (monkeypatch.setenv) must not leak it into a smoke run that the pool happens to start meanwhile.
_BASE_ENV = dict(os.environ)

_RUNS: dict[str, object] = {}
_POOL = ThreadPoolExecutor(max_workers=2)
_NEEDED: list[str] = []


def _smoke(name: str, root: Path, seed: int, cache: bool | None = None, env: dict | None = None) -> Path:
    cmd = [sys.executable, "-m", "xaikit.run", "--profile", "smoke", "--seed", str(seed), "--out", str(root),
           "--executed", str(root / "executed"), name] + ([] if cache is None else ["-p", "cache", str(cache)])
    # The runner gives smoke runs one thread and a fixed forward batch (xaikit.run.SMOKE_ENV).
    done = subprocess.run(cmd, capture_output=True, text=True, env={**_BASE_ENV, **(env or {})})
    if done.returncode:
        raise RuntimeError(f"smoke run of {name} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return root


def _start(name: str, smoke_root: Path, seed: int = 0):
    key = f"{name}:{seed}"
    if key not in _RUNS:
        nb = NOTEBOOKS / f"{name}.ipynb"
        assert nb.is_file(), f"missing notebook {nb}"
        _RUNS[key] = _POOL.submit(_smoke, name, smoke_root / f"seed{seed}", seed)
    return _RUNS[key]


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("smoke")


@pytest.fixture(scope="session", autouse=True)
def _prefetch(smoke_root):
    """Start every smoke run the collected tests need, so they run beside the unit tests."""
    for name in _NEEDED:
        _start(name, smoke_root)
    yield
    _POOL.shutdown(wait=False, cancel_futures=True)


@pytest.fixture(scope="session")
def run_smoke(smoke_root):
    """run_smoke("01_dont_augment_me") -> the results dict that notebook saved (executed once per session)."""

    def run(name: str, seed: int = 0) -> dict:
        root = _start(name, smoke_root, seed).result()
        path = root / "results" / "smoke" / f"{name}.json"
        assert path.is_file(), f"{name} saved no results at {path}"
        return results.read(path)

    return run


@pytest.fixture(scope="session")
def smoke_path(smoke_root):
    """smoke_path("01_dont_augment_me", seed=0) -> the root a smoke run wrote into (figures/, results/)."""
    return lambda name, seed=0: smoke_root / f"seed{seed}"


@pytest.hookimpl(trylast=True)   # after -k / -m deselection: start only what the selected tests need
def pytest_collection_modifyitems(config, items):
    """Unit tests first, then the notebook runs and the checks of what they saved; note which notebooks the
    collected tests run, to start them early."""
    items.sort(key=lambda item: item.fspath.basename.startswith("test_nb"))
    needed = []
    for item in items:
        name = getattr(item.module, "NB", None)
        if name is None and "run_smoke" in getattr(item, "fixturenames", ()):
            name = getattr(getattr(item, "callspec", None), "params", {}).get("name")
        if name and "run_smoke" in getattr(item, "fixturenames", ()) and name not in needed:
            needed.append(name)
    _NEEDED[:] = needed
