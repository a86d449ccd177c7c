"""The committed standard results: every comparison with a paper carries its interval, n and verdict from the
one rule, the interval follows from the saved units, and the draw of images is recorded (the verdicts and
SUMMARY.md against the registry: test_claims.py)."""
from pathlib import Path

import numpy as np
import pytest

from xaikit import claims, results, stats

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(p for p in (ROOT / "results").glob("[0-9][0-9]_*.json") if not p.name.endswith(".timings.json"))
IMAGE_NOTEBOOKS = ("00_", "01_", "02_", "04_", "05_", "06_")


@pytest.fixture(params=[p.stem for p in FILES])
def doc(request):
    return results.read(ROOT / "results" / f"{request.param}.json")


def test_there_are_committed_results():
    assert len(FILES) >= 6, FILES


def test_every_paper_value_carries_interval_n_and_verdict(doc):
    for name, e in doc["values"].items():
        if "paper" not in e and "verdict" not in e:
            continue
        where = f"{doc['notebook']}:{name}"
        assert e.get("verdict") in claims.STATUSES, where
        assert e.get("reason"), where
        assert isinstance(e.get("n"), int) and e["n"] >= 1, where
        lo, hi = e["ci"]
        assert lo <= hi, where
        # what it is tested against is the registry row's (claims/<notebook>.toml), named here
        assert e.get("claim_id") and e["registry"]["row"] in claims.ROWS, where


def test_per_unit_values_reproduce_the_interval(doc):
    for name, e in results.comparisons(doc).items():
        if "units" not in e or e["interval"].get("method") not in ("bca", "percentile") or e.get("stat", "mean") != "mean":
            continue
        if len(e["units"]) != e["n"] or any(isinstance(u, list) for u in e["units"]):
            continue
        ci = stats.bootstrap(e["units"], clusters=e.get("clusters"), seed=doc["seed"],
                             method=e["interval"]["method"])
        # units are saved to 6 digits: with few distinct values (e.g. thirds) the mean's resamples lie on a lattice
        # of step gap/n, and the rounding may move a BCa end by one step of it, never more
        gaps = np.diff(np.unique(np.round(e["units"], 4)))
        tol = max(1e-4, 1.01 * gaps.min() / e["n"]) if len(gaps) and len(np.unique(np.round(e["units"], 4))) <= 20 else 1e-4
        # and the saved ends keep 6 significant digits: large values (counts in the thousands) round by more
        assert ci.low == pytest.approx(e["ci"][0], abs=max(tol, 1e-5 * abs(e["ci"][0]))), f"{doc['notebook']}:{name}"
        assert ci.high == pytest.approx(e["ci"][1], abs=max(tol, 1e-5 * abs(e["ci"][1]))), f"{doc['notebook']}:{name}"


def test_image_notebooks_record_their_draw(doc):
    if not doc["notebook"].startswith(IMAGE_NOTEBOOKS):
        pytest.skip("no image draw")
    draws = [e for k, e in doc["values"].items() if k == "draw" or k.endswith(".draw") or k.startswith("draw")]
    assert draws, f"{doc['notebook']} saved no draw"
    names = draws[0]["value"]
    assert len(set(names)) == len(names) > 0


