"""Every notebook runs in smoke (conftest starts the runs); the same seed gives the same results file, checked by
a second run where that is cheap.

The second run recomputes its maps (`cache=False`: a run that reads maps from the cache saves other forward
counts), so it re-checks every computation of the notebook. 03-06 are not run twice: their cost is retraining, eps searches and PIC curves, whose seeding is
tested where it is cheap (test_foundation's seeded training, test_roar's seeded rankings, test_apem, test_pic's
deterministic curves, test_audit's lenses).
"""
import json

import papermill
import pytest

from conftest import _smoke
from xaikit.run import NOTEBOOKS, notebooks

SAME_FILE = ("00_tour", "01_dont_augment_me", "02_sanity_checks_for_saliency_metrics")


@pytest.mark.parametrize("name", [p.stem for p in notebooks()])
def test_smoke_run_saves_results(name, run_smoke):
    doc = run_smoke(name)
    assert doc["values"], "empty results"
    assert doc["profile"] == "smoke" and doc["notebook"] == name


@pytest.mark.parametrize("name", SAME_FILE)
def test_same_seed_same_results_file(name, run_smoke, smoke_path, tmp_path):
    run_smoke(name)
    first = (smoke_path(name) / "results" / "smoke" / f"{name}.json").read_text()
    has_cache = "cache" in papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    second = (_smoke(name, tmp_path, 0, cache=False if has_cache else None) / "results" / "smoke"
              / f"{name}.json").read_text()
    assert first == second


@pytest.mark.parametrize("name", [p.stem for p in notebooks()])
def test_committed_executed_copy_ran_this_source(name):
    """notebooks/executed/ holds what the committed results came from: the same cells, all run, none failed."""
    source = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())["cells"]
    executed = json.loads((NOTEBOOKS / "executed" / f"{name}.ipynb").read_text())["cells"]
    executed = [c for c in executed if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    assert ["".join(c["source"]) for c in executed] == ["".join(c["source"]) for c in source]
    code = [c for c in executed if c["cell_type"] == "code"]
    assert all(c.get("execution_count") is not None for c in code), "a cell did not run"
    assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))
