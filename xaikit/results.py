"""Where a notebook's numbers and figures go, and the summary table across notebooks.

A results file holds only what the seed determines (values, parameters, sources, versions, forward-pass
counts), so the same seed gives the same file; wall-clock timings go to a separate `.timings.json`.
Profile `standard` writes results/<notebook>.json and figures/<notebook>/; other profiles write into a
sub-folder named after the profile, so a smoke or paper run never overwrites the standard numbers.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from .runtime import hardware, versions

PROFILES = ("smoke", "standard", "paper")
REPO = Path(__file__).resolve().parent.parent


def _plain(v):
    """JSON-safe, rounded to 6 significant digits so that float noise in the last bits does not show."""
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    if isinstance(v, np.ndarray):
        return _plain(v.item()) if v.ndim == 0 else [_plain(a) for a in v.tolist()]
    if isinstance(v, (np.floating, float)):
        v = float(v)
        if not math.isfinite(v):
            return None if math.isnan(v) else str(v)
        return float(f"{v:.6g}")
    if isinstance(v, (np.integer, np.bool_)):
        return v.item()
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    return v


def _finite(v) -> bool:
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    if isinstance(v, np.ndarray):
        return v.dtype.kind not in "fc" or bool(np.isfinite(v).all())
    if isinstance(v, (float, np.floating)):
        return math.isfinite(float(v))
    if isinstance(v, dict):
        return all(_finite(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return all(_finite(x) for x in v)
    return True


def write_json(obj, path: Path) -> None:
    """Write atomically: a temporary file in the same folder, then rename; never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_plain(obj), indent=1, sort_keys=True, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)        # mkstemp makes it private; results are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Results:
    """Collects a notebook's values and writes them in one atomic step.

    >>> res = Results("00_tour", profile="smoke", seed=0, root=tmp)
    >>> res.add("top1_accuracy", 0.9, source=..., model=..., paper=0.886, paper_where="Table 1")
    >>> res.save()
    """

    def __init__(self, notebook: str, profile: str = "standard", seed: int = 0, root: str | Path = REPO,
                 **context):
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
        self.notebook, self.profile, self.seed = notebook, profile, seed
        self.root = Path(root).resolve()
        self.context = dict(context)
        self.values: dict[str, dict] = {}
        self.timings: dict[str, float] = {}

    @property
    def sub(self) -> str:
        return "" if self.profile == "standard" else self.profile

    @property
    def path(self) -> Path:
        return self.root / "results" / self.sub / f"{self.notebook}.json"

    @property
    def figure_dir(self) -> Path:
        d = self.root / "figures" / self.notebook / self.sub
        d.mkdir(parents=True, exist_ok=True)
        return d

    def figure_path(self, name: str) -> Path:
        return self.figure_dir / name

    def set_context(self, **context) -> None:
        """Defaults (source, model, ...) for every value added after this."""
        self.context.update(context)

    def add(self, name: str, value, *, paper=None, paper_where: str | None = None, claim: str | None = None,
            **meta) -> None:
        """Record `value` under `name` with its context; `paper`/`paper_where` hold the paper's own value."""
        if value is None:
            raise ValueError(f"{name}: value is None")
        if not _finite(value):
            raise ValueError(f"{name}: value is not finite (NaN or inf)")
        entry = dict(self.context, **meta, value=value)
        if paper is not None:
            entry.update(paper=paper, paper_where=paper_where)
        if claim is not None:
            entry["claim"] = claim
        self.values[name] = entry

    def time(self, name: str, seconds: float) -> None:
        self.timings[name] = seconds

    def document(self) -> dict:
        return {"notebook": self.notebook, "profile": self.profile, "seed": self.seed, "versions": versions(),
                "values": self.values}

    def save(self) -> Path:
        write_json(self.document(), self.path)
        if self.timings:
            write_json({"hardware": hardware(), "seconds": self.timings},
                       self.path.with_suffix(".timings.json"))
        return self.path


def load(notebook: str, profile: str = "standard", root: str | Path = REPO) -> dict:
    sub = "" if profile == "standard" else profile
    path = Path(root) / "results" / sub / f"{notebook}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no results for {notebook} ({profile}): expected {path}; run the notebook first")
    return json.loads(path.read_text())


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list) and len(v) > 6:
        return f"[{len(v)} values]"
    return str(v)


def summary(root: str | Path = REPO, profile: str = "standard") -> str:
    """A Markdown table of every value that has a paper value beside it, across all results files."""
    sub = "" if profile == "standard" else profile
    rows = []
    for path in sorted((Path(root) / "results" / sub).glob("*.json")):
        if path.name.endswith(".timings.json"):
            continue
        doc = json.loads(path.read_text())
        for name, e in sorted(doc["values"].items()):
            if "paper" not in e:
                continue
            rows.append(f"| {doc['notebook']} | {e.get('claim', name)} | {_fmt(e['paper'])} | "
                        f"{e.get('paper_where', '')} | {_fmt(e['value'])} | {e.get('model', '')} | "
                        f"{e.get('source', '')} |")
    head = (f"# Paper value vs value reproduced here ({profile} profile)\n\n"
            "Written by `make figures` from results/*.json; each row links a claim of a paper to our number. "
            "Model and data differ from the papers' wherever the columns say so.\n\n"
            "| notebook | claim | paper | where in the paper | ours | model | data source |\n"
            "|---|---|---|---|---|---|---|\n")
    return head + "\n".join(rows) + "\n"


def write_summary(root: str | Path = REPO, profile: str = "standard") -> Path:
    sub = "" if profile == "standard" else profile
    path = Path(root) / "results" / sub / "SUMMARY.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(summary(root, profile))
    os.replace(tmp, path)
    return path
