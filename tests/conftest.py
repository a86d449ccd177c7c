"""Shared fixtures: each notebook runs once per test session in the smoke profile, into a temporary root."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from xaikit.run import NOTEBOOKS, execute

_RUNS: dict[str, Path] = {}


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("smoke")


@pytest.fixture(scope="session")
def run_smoke(smoke_root):
    """run_smoke("01_dont_augment_me") -> the results dict that notebook saved (executed once per session)."""

    def run(name: str, seed: int = 0) -> dict:
        key = f"{name}:{seed}"
        root = smoke_root / f"seed{seed}"
        if key not in _RUNS:
            nb = NOTEBOOKS / f"{name}.ipynb"
            assert nb.is_file(), f"missing notebook {nb}"
            execute(nb, "smoke", root, seed, executed=root / "executed")
            _RUNS[key] = root
        path = root / "results" / "smoke" / f"{name}.json"
        assert path.is_file(), f"{name} saved no results at {path}"
        return json.loads(path.read_text())

    return run


@pytest.fixture(scope="session")
def smoke_path(smoke_root):
    """smoke_path("01_dont_augment_me", seed=0) -> the root a smoke run wrote into (figures/, results/)."""
    return lambda name, seed=0: smoke_root / f"seed{seed}"


def pytest_collection_modifyitems(config, items):
    """Unit tests first, then the notebook runs and the checks of what they saved."""
    items.sort(key=lambda item: item.fspath.basename.startswith("test_nb"))
