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

from . import stats
from .runtime import hardware, versions

NOT_GRADED = "not graded"   # a comparison no registry row names: kept as a measurement, never a verdict
PROFILES = ("smoke", "lecture", "standard", "paper")   # lecture: each notebook within 5 minutes on 2 cores
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


def _dumps(v, indent: int = 0) -> str:
    """JSON with one key a line, sorted, and lists of plain values on one line (per-unit values are long)."""
    pad = " " * indent
    if isinstance(v, dict):
        if not v:
            return "{}"
        inner = ",\n".join(f"{pad} {json.dumps(str(k))}: {_dumps(x, indent + 1)}" for k, x in sorted(v.items()))
        return "{\n" + inner + "\n" + pad + "}"
    if isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v):
        return "[\n" + ",\n".join(f"{pad} {_dumps(x, indent + 1)}" for x in v) + "\n" + pad + "]"
    if isinstance(v, list):  # no space after the commas of long lists of numbers and names
        return json.dumps(v, allow_nan=False, separators=(",", ":"))
    return json.dumps(v, allow_nan=False)


def _has_registry(notebook: str) -> bool:
    from . import claims
    return claims.has_registry(notebook)


def write_json(obj, path: Path) -> None:
    """Write atomically as JSON (`write_text`)."""
    write_text(_dumps(_plain(obj)) + "\n", path)


def write_text(text: str, path: Path) -> None:
    """Write atomically: a temporary file in the same folder, then rename; never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)        # mkstemp makes it private; results are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ShownPath(type(Path())):
    """A path that shows itself relative to the repository, so notebook outputs carry no machine paths."""

    def __repr__(self):
        try:
            shown = self.relative_to(REPO)
        except ValueError:
            shown = Path("<out_dir>") / self.name
        return f"'{shown}'"


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
        self.saved_versions: dict | None = None

    @classmethod
    def reopen(cls, notebook: str, profile: str = "standard", root: str | Path = REPO) -> "Results":
        """The saved results of a run, to add statistics computed from its values (`xaikit.derive`); `save`
        then rewrites the file with the run's package versions and leaves its timings alone."""
        path = results_path(notebook, profile, root)
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: run the notebook in profile {profile!r} first")
        doc = read(path)
        res = cls(notebook, doc["profile"], doc["seed"], root=root)
        res.values, res.saved_versions = doc["values"], doc.get("versions")
        return res

    @property
    def sub(self) -> str:
        return "" if self.profile == "standard" else self.profile

    @property
    def path(self) -> Path:
        return results_path(self.notebook, self.profile, self.root)

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

    def add(self, name: str, value, **meta) -> None:
        """Record a value that is not compared with a paper (use `compare` for those) with its context."""
        if value is None:
            raise ValueError(f"{name}: value is None")
        if not _finite(value):
            raise ValueError(f"{name}: value is not finite (NaN or inf)")
        if "paper" in meta or "verdict" in meta:
            raise ValueError(f"{name}: a value compared with a paper goes through Results.compare, which "
                             "attaches its interval and verdict")
        self.values[name] = dict(self.context, **meta, value=value)

    def record_draw(self, data, name: str = "draw") -> None:
        """Save which images were drawn (file names or dataset indices), so that any number can be traced."""
        names = list(getattr(data, "names", None) or [])
        if not names:
            raise ValueError("the data carries no names; load it through xaikit.data")
        self.add(name, names, source=getattr(data, "source", None), unit="image", n=len(names))

    def compare(self, name: str, ours, *, claim: str, kind: str, paper=None, paper_where: str | None = None,
                reference: float | None = None, tol: float | None = None, comparable: bool = True,
                clusters=None, unit: str = "image", unit_ids=None, stat="mean", note: str | None = None,
                why: str | None = None, **meta) -> stats.Verdict:
        """Record a comparison with a paper: our interval, the paper's value and the verdict of `stats.verdict`.

        `ours`: per-unit values (an interval is bootstrapped over them, seeded by the notebook's seed; they
        are saved so that any interval can be recomputed), or an `stats.Interval` computed elsewhere (then
        pass the per-unit values it came from as `units=` in meta where they exist).
        `kind`/`reference`/`tol`: the claim, as `stats.verdict` reads it; `reference` defaults to the
        paper's number for "equal" claims and to 0 for directions. `paper`: the paper's own value or
        statement, recorded beside ours, never used as ours.
        """
        if isinstance(ours, stats.Interval):
            ci = ours
        else:
            units = np.asarray(ours.detach().cpu() if isinstance(ours, torch.Tensor) else ours, dtype=float)
            ci = stats.bootstrap(units, stat, clusters=clusters, seed=self.seed, unit=unit)
            meta["units"] = units
        if stat != "mean":  # also for an Interval computed elsewhere: says what its units summarise
            meta["stat"] = stat if isinstance(stat, str) else getattr(stat, "__name__", "callable")
        if clusters is not None:  # a clustered interval can only be recomputed with its clusters
            meta["clusters"] = list(np.asarray(clusters).tolist())
        if unit_ids is not None:
            meta["unit_ids"] = list(unit_ids)
        if reference is None:
            if kind == "equal":
                if not isinstance(paper, (int, float)):
                    raise ValueError(f"{name}: an 'equal' claim needs a numeric paper value or reference")
                reference = float(paper)
            else:
                reference = 0.0
        v = stats.verdict(ci, kind, reference, tol, comparable, why)
        row = self._registry_row(name)
        entry = dict(self.context, **meta, value=ci.estimate, ci=[ci.low, ci.high], n=ci.n, interval=ci.as_dict(),
                     claim=claim, kind=kind, reference=reference, paper=paper, paper_where=paper_where,
                     **v.as_dict())
        if tol is not None:
            entry["tol"] = tol
        if why:
            entry["why"] = why
        if note:
            entry["note"] = note
        if paper is None:
            entry.pop("paper")
        if not _finite({k: x for k, x in entry.items() if k != "decide_width"}):
            raise ValueError(f"{name}: not finite (NaN or inf)")
        if row is not None:  # the registry decides what the measurement is tested against
            from . import claims
            entry = claims.registry_fields(row, entry)
            v = stats.Verdict(entry["verdict"], entry["reason"])
        elif _has_registry(self.notebook):
            # only a registry row grades: a measurement no row names is kept, with the notebook's own reading
            # as a note, but carries no verdict of its own
            entry["notebook_reading"] = dict(verdict=v.verdict, reason=v.reason)
            v = stats.Verdict(NOT_GRADED, f"no row of claims/{self.notebook}.toml grades {name!r}: a measurement, "
                                          "not a test")
            entry.update(v.as_dict())
            entry.pop("decide_width", None)
        self.values[name] = entry
        return v

    def _registry_row(self, name: str):
        if not _has_registry(self.notebook):
            return None
        from . import claims
        return claims.load(self.notebook).by_measure().get(name)

    def comparisons(self) -> dict:
        return comparisons(self.document())

    def render(self, template: str):
        """`template` with its {{field:key}} places filled from the values saved so far and the timings
        (`prose.render`), graded by the claims registry as `save` grades them (a cell of a table's summary row
        carries that row's verdict); shown as Markdown in a notebook."""
        from . import claims, prose
        doc = dict(self.document(), values=dict(self.values))   # apply replaces entries of this copy only
        if claims.has_registry(self.notebook):
            claims.apply(self.notebook, doc)
        return prose.render(template, doc, self.timings, graded=None)

    def comparison_table(self) -> str:
        """The notebook's closing comparison as Markdown, generated from the claims registry and the values
        saved here (`claims.section`); without a registry file, from the saved verdicts."""
        from . import claims
        if claims.has_registry(self.notebook):
            return claims.section(self.notebook, self.document(), heading=False)
        return notebook_section(self.document(), heading=False)

    def time(self, name: str, seconds: float) -> None:
        self.timings[name] = seconds

    def document(self) -> dict:
        return {"notebook": self.notebook, "profile": self.profile, "seed": self.seed,
                "versions": self.saved_versions or versions(),
                "values": self.values}

    def save(self) -> Path:
        doc = self.document()
        from . import claims
        if claims.has_registry(self.notebook):
            claims.apply(self.notebook, doc)   # the registry's grading of every row, tables' summaries included
        write_json(pack(doc), self.path)
        if self.timings:
            write_json({"hardware": hardware(), "seconds": self.timings},
                       self.path.with_suffix(".timings.json"))
        return ShownPath(self.path)


def results_path(notebook: str, profile: str = "standard", root: str | Path = REPO, suffix: str = ".json") -> Path:
    """results/<notebook>.json for standard, results/<profile>/<notebook>.json otherwise (suffix ".timings.json"
    for the timings file)."""
    return Path(root) / "results" / ("" if profile == "standard" else profile) / f"{notebook}{suffix}"


SHARED = ("unit_ids", "clusters")   # per-unit lists that many entries repeat (the same images, the same pairs)


def pack(doc: dict) -> dict:
    """The document as written: each unit_ids / clusters list that more than one entry holds is stored once, under
    "shared_lists", and the entries name it ("@3": the fourth list). `unpack` undoes it; values are untouched."""
    def shared(e):   # (field, its list as text) of an entry's unit lists
        return [(k, json.dumps(e[k])) for k in SHARED if isinstance(e, dict) and isinstance(e.get(k), list)
                and len(e[k]) > 1]
    count: dict[str, int] = {}
    for e in doc.get("values", {}).values():
        for _, text in shared(e):
            count[text] = count.get(text, 0) + 1
    index: dict[str, int] = {}
    values = {}
    for name, e in doc.get("values", {}).items():
        repeated = [(k, text) for k, text in shared(e) if count[text] > 1]
        if repeated:
            e = dict(e)
            for k, text in repeated:
                e[k] = f"@{index.setdefault(text, len(index))}"
        values[name] = e
    out = {**{k: v for k, v in doc.items() if k != "values"}, "values": values}
    if index:
        out["shared_lists"] = [json.loads(text) for text in index]
    return out


def unpack(doc: dict) -> dict:
    """A results document as `pack` wrote it, with every shared list back in the entries that name it."""
    lists = doc.get("shared_lists")
    if not lists:
        return doc
    values = {}
    for name, e in doc["values"].items():
        if isinstance(e, dict) and any(isinstance(e.get(k), str) and e[k].startswith("@") for k in SHARED):
            e = dict(e)
            for k in SHARED:
                if isinstance(e.get(k), str) and e[k].startswith("@"):
                    e[k] = lists[int(e[k][1:])]
        values[name] = e
    return {**{k: v for k, v in doc.items() if k != "shared_lists"}, "values": values}


def read(path: str | Path) -> dict:
    """A results file, unpacked (what `Results.document()` gave when it was saved)."""
    return unpack(json.loads(Path(path).read_text()))


def load(notebook: str, profile: str = "standard", root: str | Path = REPO) -> dict:
    path = results_path(notebook, profile, root)
    if not path.is_file():
        raise FileNotFoundError(f"no results for {notebook} ({profile}): expected {path}; run the notebook first")
    return read(path)


def comparisons(doc: dict) -> dict:
    """The entries of a results document that compare with a paper (those that carry a verdict)."""
    return {k: e for k, e in doc["values"].items() if "verdict" in e}


def _num(v) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, (int, float)):
        return f"{v:.3g}"
    return str(v)


def _cell(v) -> str:
    """A table cell: numbers at 3 significant digits, no dicts or long lists, no pipes."""
    if isinstance(v, dict):
        v = ", ".join(f"{k} {_num(x)}" for k, x in v.items())
    elif isinstance(v, (list, tuple)):
        v = ", ".join(_num(x) for x in v) if len(v) <= 4 else f"{len(v)} values"
    else:
        v = _num(v)
    return str(v).replace("|", "/").replace("\n", " ")


def _most_common(entries, key):
    vals = [str(e.get(key)) for e in entries if e.get(key) is not None]
    return max(set(vals), key=vals.count) if vals else None


def verdict_counts(doc: dict) -> dict:
    rows = comparisons(doc).values()
    return {v: sum(e["verdict"] == v for e in rows) for v in stats.VERDICTS}


def notebook_section(doc: dict, heading: bool = True) -> str:
    """One notebook's comparisons: model and data named once, then claim | paper | ours [95% CI] | n | verdict."""
    rows = comparisons(doc)
    model, source = _most_common(rows.values(), "model"), _most_common(rows.values(), "source")
    counts = verdict_counts(doc)
    out = [f"## {doc['notebook']}\n"] if heading else []
    out.append(f"Model: {model or 'n/a'}. Data: {source or 'n/a'}. "
               + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".\n")
    out.append("| claim | paper | ours [95% CI] | n | verdict | why |\n|---|---|---|---|---|---|")
    for name, e in sorted(rows.items()):
        extra = []
        if model and e.get("model") is not None and str(e.get("model")) != model:
            extra.append(f"model {_cell(e['model'])}")
        if source and e.get("source") is not None and str(e.get("source")) != source:
            extra.append(f"data {_cell(e['source'])}")
        claim = _cell(e["claim"]) + (f" ({'; '.join(extra)})" if extra else "")
        paper = _cell(e.get("paper", "")) + (f" ({_cell(e['paper_where'])})" if e.get("paper_where") else "")
        lo, hi = e["ci"]
        ours = f"{_num(e['value'])} [{_num(lo)}, {_num(hi)}]"
        out.append(f"| {claim} | {paper} | {ours} | {e['n']} | **{e['verdict']}** | {_cell(e['reason'])} |")
    return "\n".join(out) + "\n"


def _numbers(v, prefix=""):
    """Every number inside a saved value, keyed by its path (per-unit lists included)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return {}
    if isinstance(v, (int, float)):
        return {prefix: float(v)}
    items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else ()
    out = {}
    for k, x in items:
        out.update(_numbers(x, f"{prefix}/{k}" if prefix else str(k)))
    return out


def moved(before: dict, after: dict, rtol: float = 1e-4, atol: float = 1e-6) -> dict:
    """What a re-run changed against an earlier results document: values moved beyond float noise (by more than
    rtol relative or atol absolute), verdicts changed, entries added or removed."""
    b, a = before.get("values", {}), after.get("values", {})
    out = {"added": sorted(set(a) - set(b)), "removed": sorted(set(b) - set(a)), "values": [], "verdicts": []}
    for k in sorted(set(a) & set(b)):
        if a[k].get("verdict") != b[k].get("verdict"):
            out["verdicts"].append((k, b[k].get("verdict"), a[k].get("verdict")))
        nb, na = _numbers(b[k].get("value")), _numbers(a[k].get("value"))
        nb.update({f"ci/{i}": x for i, x in enumerate(b[k].get("ci", []))})
        na.update({f"ci/{i}": x for i, x in enumerate(a[k].get("ci", []))})
        worst = max((abs(na[p] - nb[p]) for p in set(na) & set(nb)
                     if abs(na[p] - nb[p]) > max(atol, rtol * abs(nb[p]))), default=None)
        if worst is not None or set(na) != set(nb):
            out["values"].append((k, worst))
    return out


def moved_report(name: str, m: dict) -> str:
    """One paragraph for the end of a run: did it reproduce the results that were there before?"""
    if not any(m.values()):
        return f"{name}: reproduced the results file that was there (every value within float noise, same verdicts)"
    lines = [f"{name}: {len(m['values'])} values moved beyond float noise, {len(m['verdicts'])} verdicts changed, "
             f"{len(m['added'])} entries added, {len(m['removed'])} removed"]
    lines += [f"  verdict {k}: {old} -> {new}" for k, old, new in m["verdicts"][:20]]
    lines += [f"  value {k}: moved by up to {w:.3g}" if w is not None else f"  value {k}: other entries"
              for k, w in m["values"][:20]]
    return "\n".join(lines)

