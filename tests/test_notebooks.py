"""Every notebook: the same seed gives the same results file (a second smoke run, into a fresh root)."""
import json

import pytest

from xaikit.run import NOTEBOOKS, execute, notebooks

# Extra papermill parameters for the second run: 03 recomputes its cached attributions, so the cache cannot
# hide a difference.
SECOND_RUN = {"03_roar_remove_and_retrain": {"cache": False}}


@pytest.mark.parametrize("name", [p.stem for p in notebooks()])
def test_same_seed_same_results_file(name, run_smoke, smoke_path, tmp_path):
    run_smoke(name)
    first = (smoke_path(name) / "results" / "smoke" / f"{name}.json").read_text()
    execute(NOTEBOOKS / f"{name}.ipynb", "smoke", tmp_path, 0, executed=tmp_path / "executed",
            **SECOND_RUN.get(name, {}))
    second = (tmp_path / "results" / "smoke" / f"{name}.json").read_text()
    assert json.loads(first)["values"], "empty results"
    assert first == second
