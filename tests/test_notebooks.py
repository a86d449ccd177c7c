"""Every notebook runs in smoke (conftest starts the runs); the same seed gives the same results file, checked by
a second run where that is cheap.

The second run recomputes its maps (`cache=False`: a run that reads maps from the cache saves other forward
counts), so it re-checks every computation of the notebook. 03-06 are not run twice: their cost is retraining, eps searches and PIC curves, whose seeding is
tested where it is cheap (test_foundation's seeded training, test_roar's seeded rankings, test_apem, test_pic's
deterministic curves, test_audit's lenses).
"""
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import _smoke
from test_downloads import SAMPLE, Server
from xaikit import data, results
from xaikit.run import NOTEBOOKS, notebooks

# In the runs below, a connection to any host but 127.0.0.1 fails (the kernel imports this too).
LOCAL_ONLY = """import socket
_connect = socket.socket.connect
def _local_only(self, address):
    if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "localhost", "::1"):
        raise OSError(f"the test allows 127.0.0.1 only, not {address}")
    return _connect(self, address)
socket.socket.connect = _local_only
"""


@pytest.mark.parametrize("name", [p.stem for p in notebooks()])
def test_smoke_run_saves_results(name, run_smoke):
    doc = run_smoke(name)
    assert doc["values"], "empty results"
    assert doc["profile"] == "smoke" and doc["notebook"] == name


@pytest.mark.parametrize("name", [p.stem for p in notebooks()])
def test_smoke_run_reproduces_the_committed_smoke_results(name, run_smoke):
    """The committed results/smoke/<notebook>.json came from the committed notebook with seed 0: this session's run
    gives every value within float noise (results.moved: 1e-4 relative; another machine's forward plan moves the
    last float32 digits) and the same verdicts. Fails when a notebook changed and its smoke results were not re-run."""
    fresh = run_smoke(name)
    m = results.moved(results.load(name, "smoke"), fresh)
    assert not any(m.values()), results.moved_report(name, m)


def _sample_source(text: str) -> str:
    """The results file with the ImageNet sample's source (offline copy or download) as one word."""
    text = re.sub(r"offline ImageNet-1k sample \(byte-identical copy of GitHub [^,]+, [^)]+\)", "SAMPLE", text)
    return re.sub(r"ImageNet-1k sample downloaded from GitHub [^,]+, SHA-256 verified", "SAMPLE", text)


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="needs ../shared/data/imagenet-sample-images to serve")
def test_a_user_without_shared_gets_the_same_file(run_smoke, smoke_path, tmp_path):
    """The path of a user without ../shared: an empty data folder, the data layer, the pinned download (served from
    127.0.0.1 in GitHub's layout) and 00 in smoke with the same seed: the same results file as the run on the
    offline copy, but for the source it names. Its second run also recomputes every map (cache=False)."""
    run_smoke("00_tour")
    first = (smoke_path("00_tour") / "results" / "smoke" / "00_tour.json").read_text()
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(LOCAL_ONLY)
    server = Server(SAMPLE)
    server.thread.start()
    env = dict(XAIKIT_SHARED=str(tmp_path / "no-shared"), XAIKIT_DATA=str(tmp_path / "data"),
               XAIKIT_IMAGENET_SAMPLE_URL=server.url,
               PYTHONPATH=os.pathsep.join([str(guard), *filter(None, [os.environ.get("PYTHONPATH")])]))
    try:
        laid = subprocess.run([sys.executable, "-c", "from xaikit.data import seed_offline_copies as s; print(s())"],
                              capture_output=True, text=True, env={**os.environ, **env}, check=True).stdout
        assert "ImageNet sample: no offline copy" in laid and "CIFAR-10: no offline copy" in laid
        second = (_smoke("00_tour", tmp_path / "out", 0, cache=False, env=env) / "results" / "smoke"
                  / "00_tour.json").read_text()
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
    assert len(server.log) == 1000                     # every sample file fetched (and verified) once
    assert (tmp_path / "data" / data.IMAGENET_SAMPLE_DIR / data.DOWNLOAD_MARKER).is_file()
    assert "SHA-256 verified" in second and "offline ImageNet" in first
    assert _sample_source(first) == _sample_source(second)


@pytest.mark.parametrize("name", [p.stem for p in notebooks()])
def test_committed_executed_copy_ran_this_source(name):
    """notebooks/executed/ holds what the committed results came from: the same cells, all run, none failed."""
    source = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())["cells"]
    doc = json.loads((NOTEBOOKS / "executed" / f"{name}.ipynb").read_text())
    executed = [c for c in doc["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    assert ["".join(c["source"]) for c in executed] == ["".join(c["source"]) for c in source]
    # cells edited after the run without changing what a run outputs (run.carry_source_edits) are listed, with why
    edits = doc["metadata"].get("xaikit", {}).get("edited_after_run", [])
    assert all(e["why"] and e["cells"] for e in edits)
    edited = {i for e in edits for i in e["cells"]}
    code = [(i, c) for i, c in enumerate(executed) if c["cell_type"] == "code"]
    assert all(c.get("execution_count") is not None for i, c in code if i not in edited), "a cell did not run"
    assert not any(o.get("output_type") == "error" for _, c in code for o in c.get("outputs", []))
