"""Every notebook: the same seed gives the same results file (a second smoke run, into a fresh root)."""
import json

import papermill
import pytest

from xaikit.run import NOTEBOOKS, execute, notebooks


def second_run(name: str) -> dict:
    """Extra parameters for the second run: a notebook with a `cache` parameter recomputes its cached maps or
    rankings, so the cache cannot hide a difference between the two runs."""
    params = papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    return {"cache": False} if "cache" in params else {}


@pytest.mark.parametrize("name", [p.stem for p in notebooks()])
def test_same_seed_same_results_file(name, run_smoke, smoke_path, tmp_path):
    run_smoke(name)
    first = (smoke_path(name) / "results" / "smoke" / f"{name}.json").read_text()
    execute(NOTEBOOKS / f"{name}.ipynb", "smoke", tmp_path, 0, executed=tmp_path / "executed",
            **second_run(name))
    second = (tmp_path / "results" / "smoke" / f"{name}.json").read_text()
    assert json.loads(first)["values"], "empty results"
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
