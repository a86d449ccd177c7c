"""The claims registry: every paper claim once, as data (claims/<notebook>.toml), graded through the one rule.

A notebook measures (results/<notebook>.json); its registry file says, for each claim of the paper, the
control or the kit's own finding, which measurement tests it, on which statistic, against which of the paper's
numbers, with which tolerance and why. `grade` turns a row and its measurement into one status:

- "held", "not held", "inconclusive", "not comparable": `stats.verdict` / `stats.order_verdict`;
- "not testable": the registry says why the kit cannot test it here;
- "pending": testable here, but the measurement is not saved yet;
- "refused": the outcome is fixed by construction (`guaranteed`), so it is no test and is never counted.

`python -m xaikit.claims check [NOTEBOOK ...]` validates the files against the committed results;
`python -m xaikit.claims regrade` writes each results file's verdicts from the registry and SUMMARY.md.
The file format is described in claims/README.md.
"""
from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import stats
from .results import REPO, comparisons, pack, read, results_path, write_json, write_text

ROWS = ("claim", "control", "finding")
KINDS = ("value", "direction", "order", "equivalence")
TRANSFERS = ("value", "direction", "order", "none")
GRADED = ("held", "not held", "inconclusive")
STATUSES = GRADED + ("not comparable", "not testable", "pending", "refused")
_ROUTES = ("measure", "measures", "not_testable", "pending")
_KNOWN = {"id", "row", "words", "where", "statistic", "paper_value", "paper_interval", "paper_text", "paper_values",
          "kind", "tolerance", "tolerance_why", "direction", "reference", "transfers", "transfer_why", "contradict",
          "measure", "measures", "combine", "group", "not_testable", "guaranteed", "pending", "relies_on", "note"}


def registry_dir(root: str | Path = REPO) -> Path:
    return Path(root) / "claims"


@dataclass(frozen=True)
class Row:
    """One registry row (see claims/README.md for the fields)."""
    id: str
    row: str
    words: str
    where: str
    kind: str | None = None
    statistic: str = ""
    paper_value: float | list | None = None
    paper_interval: list | None = None
    paper_text: str | None = None
    paper_values: list | None = None
    tolerance: float | None = None
    tolerance_why: str | None = None
    direction: str | None = None
    reference: float = 0.0
    transfers: str = "none"
    transfer_why: str = ""
    contradict: str = ""
    measure: str | None = None
    measures: list | None = None
    combine: str | None = None
    group: str | None = None
    not_testable: str | None = None
    guaranteed: str | None = None
    pending: str | None = None
    relies_on: list = field(default_factory=list)
    note: str | None = None

    def keys(self) -> list[str]:
        """The results keys this row reads."""
        return [self.measure] if self.measure else list(self.measures or [])

    @property
    def paper_shown(self) -> str:
        if self.paper_text:
            return self.paper_text
        if self.paper_value is None:
            return ""
        v = self.paper_value
        shown = f"{v[0]:.3g}-{v[1]:.3g}" if isinstance(v, list) else f"{v:.3g}"
        if self.paper_interval:
            shown += f" [{self.paper_interval[0]:.3g}, {self.paper_interval[1]:.3g}]"
        return shown


@dataclass(frozen=True)
class PaperTable:
    """A table the paper prints, as the registry holds it (`[table.<id>]`): row name -> one number per column."""
    id: str
    where: str
    columns: tuple[str, ...]
    rows: dict

    def cell(self, row: str, column: str) -> float:
        return self.rows[row][self.columns.index(column)]

    def column(self, column: str) -> dict:
        """Row name -> the column's value (rows with a missing cell, `nan` in the file, are left out)."""
        j = self.columns.index(column)
        return {r: v[j] for r, v in self.rows.items() if v[j] is not None}


@dataclass(frozen=True)
class Registry:
    notebook: str
    paper: dict
    rows: tuple[Row, ...]
    path: Path
    tables: dict = field(default_factory=dict)

    def by_measure(self) -> dict[str, Row]:
        """Results key -> the row that grades it: the row that measures it alone, else the first row that reads
        it among several (a table's summary)."""
        out = {k: r for r in self.rows if r.measures for k in r.measures}
        out.update({r.measure: r for r in self.rows if r.measure})
        return out

    def row(self, row_id: str) -> Row:
        for r in self.rows:
            if r.id == row_id:
                return r
        raise KeyError(f"{self.notebook}: no registry row {row_id!r}")

    def table(self, table_id: str) -> PaperTable:
        if table_id not in self.tables:
            raise KeyError(f"{self.notebook}: no paper table {table_id!r} in {self.path.name} "
                           f"(it has {sorted(self.tables)})")
        return self.tables[table_id]


@dataclass(frozen=True)
class Grade:
    status: str
    reason: str
    estimate: float | None = None
    ci: tuple | None = None
    n: int | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


# ------------------------------------------------------------------------------------------------ loading

def _problems(raw: dict, where: str) -> list[str]:
    out = []
    rid = raw.get("id")
    at = f"{where}:{rid or '?'}"
    for key in ("id", "row", "words", "where"):
        if not raw.get(key):
            out.append(f"{at}: missing {key!r}")
    unknown = set(raw) - _KNOWN
    if unknown:
        out.append(f"{at}: unknown fields {sorted(unknown)}")
    if raw.get("row") not in ROWS:
        out.append(f"{at}: row must be one of {ROWS}, got {raw.get('row')!r}")
    routes = [k for k in _ROUTES if raw.get(k)]
    if len(routes) != 1 and not (raw.get("guaranteed") and not routes):   # a guaranteed row may name nothing
        out.append(f"{at}: needs exactly one of {_ROUTES}, has {routes}")
    measured = bool(raw.get("measure") or raw.get("measures"))
    kind = raw.get("kind")
    if measured and not raw.get("guaranteed"):
        if kind not in KINDS:
            out.append(f"{at}: kind must be one of {KINDS}, got {kind!r}")
        if raw.get("transfers", "none") not in TRANSFERS:
            out.append(f"{at}: transfers must be one of {TRANSFERS}")
        if kind in ("value", "equivalence") and raw.get("tolerance") is None:
            out.append(f"{at}: a {kind} row needs a tolerance")
        if raw.get("tolerance") is not None and not raw.get("tolerance_why"):
            out.append(f"{at}: tolerance without tolerance_why")
        if kind == "value" and raw.get("paper_value") is None and raw.get("transfers") == "value":
            out.append(f"{at}: a value row that transfers needs paper_value")
        if kind == "direction" and raw.get("direction") not in ("greater", "less"):
            out.append(f"{at}: a direction row needs direction = 'greater' or 'less'")
        if raw.get("measures"):
            if kind == "order":
                if len(raw.get("paper_values") or []) != len(raw["measures"]):
                    out.append(f"{at}: an order over cells needs one paper_value per measure")
            elif raw.get("combine") != "all":
                out.append(f"{at}: several measures need combine = 'all' (or kind = 'order')")
    return out


def _tables(raw: dict, where: str) -> tuple[dict, list[str]]:
    out, problems = {}, []
    for tid, t in raw.items():
        at = f"{where}: table {tid!r}"
        cols, rows = t.get("columns"), t.get("rows")
        if not t.get("where") or not cols or not isinstance(rows, dict) or not rows:
            problems.append(f"{at}: needs where, columns and rows")
            continue
        unknown = set(t) - {"where", "columns", "rows", "note"}
        if unknown:
            problems.append(f"{at}: unknown fields {sorted(unknown)}")
        bad = [r for r, v in rows.items() if not isinstance(v, list) or len(v) != len(cols)]
        if bad:
            problems.append(f"{at}: rows {bad} need one value per column ({len(cols)})")
            continue
        out[tid] = PaperTable(tid, t["where"], tuple(cols),
                              {r: tuple(None if x != x else x for x in v) for r, v in rows.items()})
    return out, problems


def paper_table(notebook: str, table_id: str, root: str | Path = REPO) -> PaperTable:
    """A table printed in the paper, from the notebook's registry (the one place it is typed)."""
    return load(notebook, root).table(table_id)


def paper_value(notebook: str, measure: str, root: str | Path = REPO):
    """The paper's value for the measurement `measure` (the key a notebook passes to Results.compare), from the
    registry row that grades it: notebooks read a paper's number from the one place it is typed."""
    row = load(notebook, root).by_measure().get(measure)
    if row is None:
        raise KeyError(f"{notebook}: no registry row grades {measure!r}")
    if row.paper_value is None:
        raise ValueError(f"{notebook}: registry row {row.id!r} (grading {measure!r}) gives no paper_value")
    return row.paper_value


def has_registry(notebook: str) -> bool:
    return (registry_dir() / f"{notebook}.toml").is_file()


_LOADED: dict[tuple, Registry] = {}   # (path, mtime) -> parsed registry: a notebook's compare calls parse it once


def load(notebook: str, root: str | Path = REPO) -> Registry:
    """The registry of one notebook; raises ValueError naming every malformed row."""
    path = registry_dir(root) / f"{notebook}.toml"
    if not path.is_file():
        raise FileNotFoundError(f"no claims registry for {notebook}: expected {path}")
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _LOADED:
        _LOADED[key] = _parse(notebook, path)
    return _LOADED[key]


def _parse(notebook: str, path: Path) -> Registry:
    with path.open("rb") as f:
        raw = tomllib.load(f)
    paper = raw.get("paper", {})
    rows = raw.get("claim", [])
    problems = [p for r in rows for p in _problems(r, path.name)]
    tables, bad_tables = _tables(raw.get("table", {}), path.name)
    problems += bad_tables
    unknown = set(raw) - {"paper", "claim", "table"}
    if unknown:
        problems.append(f"{path.name}: unknown sections {sorted(unknown)}")
    ids = [r.get("id") for r in rows]
    problems += [f"{path.name}: id {i!r} is used twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    keys = [r["measure"] for r in rows if r.get("measure")]   # a summary row (measures) may reuse cells
    problems += [f"{path.name}: measurement {k!r} is graded by two rows" for k in sorted({k for k in keys
                                                                                            if keys.count(k) > 1})]
    if paper.get("notebook", notebook) != notebook:
        problems.append(f"{path.name}: [paper] notebook = {paper.get('notebook')!r}, not {notebook!r}")
    if problems:
        raise ValueError("claims registry is malformed:\n  " + "\n  ".join(problems))
    return Registry(notebook, paper, tuple(Row(**r) for r in rows), path, tables)


def notebooks(root: str | Path = REPO) -> list[str]:
    """The notebooks that have a registry file."""
    return sorted(p.stem for p in registry_dir(root).glob("[0-9][0-9]_*.toml"))


def check(notebook: str, doc: dict) -> list[str]:
    """What is wrong between a registry and a results document: a measurement named that was not saved, a
    comparison the notebook saved that no row grades, a graded row on a degenerate interval."""
    reg = load(notebook)
    values = doc["values"]
    named = reg.by_measure()
    out = [f"{notebook}: row {r.id!r} names {k!r}, which the results do not hold"
           for r in reg.rows for k in r.keys() if k not in values]
    out += [f"{notebook}: the results compare {k!r} with a paper, but no registry row grades it"
            for k in comparisons(doc) if k not in named]
    for r in reg.rows:
        if all(k in values for k in r.keys()):
            g = grade(r, doc)
            if g.status in GRADED and g.ci is not None and g.ci[0] == g.ci[1] and (g.n or 0) > 1:
                out.append(f"{notebook}: row {r.id!r} is graded on a degenerate interval {g.ci}")
    return out


# ------------------------------------------------------------------------------------------------ grading

def interval(entry: dict) -> stats.Interval:
    """The interval a results entry saved (with its method, clusters and permutation p-values)."""
    i = entry.get("interval", {})
    return stats.Interval(entry["value"], entry["ci"][0], entry["ci"][1], entry["n"], i.get("level", stats.LEVEL),
                          i.get("method", "bca"), i.get("n_resamples", stats.N_RESAMPLES), i.get("unit", "image"),
                          i.get("n_clusters"), i.get("p_value"), i.get("p_reverse"))


def _n_items(entry: dict) -> int:
    """How many items (methods) an order entry ranks."""
    if entry.get("methods"):
        return len(entry["methods"])
    paper = entry.get("paper")
    if isinstance(paper, dict):
        return len(paper)
    if isinstance(paper, (list, tuple)):
        return len(paper)
    if isinstance(paper, str) and "," in paper:
        return len([p for p in paper.split(",") if p.strip()])
    raise ValueError("an order entry must name its methods (methods=[...]) or carry the paper's values per method")


def _from_verdict(v: stats.Verdict, ci: stats.Interval | None) -> Grade:
    if ci is None:
        return Grade(v.verdict, v.reason)
    return Grade(v.verdict, v.reason, ci.estimate, (ci.low, ci.high), ci.n)


def grade_entry(row: Row, entry: dict) -> Grade:
    """One row graded on one saved measurement."""
    if row.guaranteed:
        return Grade("refused", f"not a test: the outcome is fixed by construction ({row.guaranteed})")
    if row.transfers == "none" or (row.kind == "order" and row.transfers not in ("order", "value")):
        ci = interval(entry) if row.kind != "order" else None
        why = f"does not transfer to our setting: {row.transfer_why or 'another model or data'}"
        return _from_verdict(stats.verdict(ci, "equal", 0.0, 0.0, comparable=False, why=why), ci) if ci else \
            Grade("not comparable", why, float(entry["value"]))
    if row.kind == "order":
        rho, k = float(entry["value"]), _n_items(entry)
        return Grade(**{**_from_verdict(stats.order_verdict(rho, k), None).__dict__, "estimate": rho, "n": k})
    ci = interval(entry)
    if row.kind == "value":
        if row.transfers != "value":
            why = f"absolute value does not transfer: {row.transfer_why}" if row.transfer_why else None
            return _from_verdict(stats.verdict(ci, "equal", 0.0, 0.0, comparable=False, why=why), ci)
        return _from_verdict(stats.verdict(ci, "equal", row.paper_value, row.tolerance), ci)
    if row.kind == "equivalence":
        return _from_verdict(stats.verdict(ci, "equivalent", row.reference, row.tolerance), ci)
    return _from_verdict(stats.verdict(ci, row.direction, row.reference, row.tolerance), ci)


def grade(row: Row, doc: dict) -> Grade:
    """A row graded on the results document of its notebook."""
    if row.not_testable:
        return Grade("not testable", row.not_testable)
    if row.pending:
        return Grade("pending", f"measurement not saved yet: {row.pending}")
    if row.guaranteed:
        return grade_entry(row, {})
    values = doc["values"]
    missing = [k for k in row.keys() if k not in values]
    if missing:
        return Grade("pending", f"the results hold no {missing}")
    if row.measure:
        return grade_entry(row, values[row.measure])
    cells = [values[k] for k in row.measures]
    if row.kind == "order":
        ours = [float(c["value"]) for c in cells]
        res = stats.rank_test(np.array(ours), np.array(row.paper_values, dtype=float))
        rev = stats.rank_test(np.array(ours), np.array(row.paper_values, dtype=float), alternative="less")
        v = stats.order_verdict(res.statistic, len(ours), p_value=res.p_value, p_reverse=rev.p_value)
        return Grade(v.verdict, f"our {len(ours)} cells against the paper's: {v.reason}", res.statistic, None,
                     len(ours))
    graded = [(k, grade_entry(row, c)) for k, c in zip(row.measures, cells)]
    counts = {s: sum(g.status == s for _, g in graded) for s in STATUSES}
    tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if counts["not comparable"]:
        return Grade("not comparable", f"{len(graded)} cells: {tally}")
    if counts["not held"]:
        worst = [k for k, g in graded if g.status == "not held"]
        return Grade("not held", f"{len(graded)} cells: {tally} (not held: {', '.join(worst[:4])}"
                     + (", ..." if len(worst) > 4 else "") + ")", n=len(graded))
    if counts["held"] == len(graded):
        return Grade("held", f"all {len(graded)} cells held", n=len(graded))
    return Grade("inconclusive", f"{len(graded)} cells: {tally}", n=len(graded))


def graded(notebook: str, doc: dict | None = None, root: str | Path = REPO,
           profile: str = "standard") -> list[tuple[Row, Grade]]:
    reg = load(notebook)
    doc = doc if doc is not None else _results(notebook, root, profile)
    return [(r, grade(r, doc)) for r in reg.rows]


def _results(notebook: str, root: str | Path = REPO, profile: str = "standard") -> dict:
    path = results_path(notebook, profile, root)
    return read(path) if path.is_file() else {"values": {}}


def registry_fields(row: Row, entry: dict, doc: dict | None = None) -> dict:
    """A results entry with the registry's grading written into it: `verdict` and `reason`, and under
    `registry` the row's id and type and what it was tested against. The notebook's own `kind`/`reference`/`tol`
    stay as the notebook passed them (what it measured); the verdict is the registry's."""
    if row.measures and doc is not None:   # a cell read only by a table's summary row carries that row's grade
        g = grade(row, doc)
        g = Grade(g.status, f"one of the {len(row.measures)} cells of {row.id}: {g.reason}")
    else:
        g = grade_entry(row, entry)
    graded_as = {"id": row.id, "row": row.row, "kind": row.kind or "refused", "transfers": row.transfers}
    for key in ("paper_value", "tolerance", "direction"):
        if getattr(row, key) is not None:
            graded_as[key] = getattr(row, key)
    if row.kind in ("direction", "equivalence"):
        graded_as["reference"] = row.reference
    new = {k: v for k, v in entry.items() if k != "decide_width"}
    new.update(verdict=g.status, reason=g.reason, claim_id=row.id, registry=graded_as)
    return new


def apply(notebook: str, doc: dict) -> int:
    """Write the registry's grading into every entry of a results document that a row grades (in place);
    returns how many entries changed. `Results.save` does this before writing a notebook's file."""
    changed = 0
    for k, r in load(notebook).by_measure().items():
        if k in doc["values"] and "interval" in doc["values"][k]:   # a measurement with its interval saved
            e = doc["values"][k]
            new = registry_fields(r, e, doc)
            if new != e:
                doc["values"][k] = new
                changed += 1
    return changed


def regrade_results(notebook: str, root: str | Path = REPO) -> int:
    """Re-grade a committed results file from what it saved, through the registry; returns how many entries
    changed."""
    path = results_path(notebook, "standard", root)
    doc = read(path)
    changed = apply(notebook, doc)
    write_json(pack(doc), path)
    return changed


# ------------------------------------------------------------------------------------------------ tallies

def tally(rows: list[tuple[Row, Grade]], row_type: str = "claim") -> dict:
    """Counts of one row type: in the registry, graded here (held + not held + inconclusive), and each status."""
    mine = [g for r, g in rows if r.row == row_type]
    out = {"registered": len(mine), "graded": sum(g.status in GRADED for g in mine)}
    out.update({s: sum(g.status == s for g in mine) for s in STATUSES})
    return out


def _cell(v) -> str:
    return str(v).replace("|", "/").replace("\n", " ")


def _ours(g: Grade) -> str:
    if g.estimate is None:
        return ""
    if g.ci is None:
        return f"{g.estimate:.3g}"
    return f"{g.estimate:.3g} [{g.ci[0]:.3g}, {g.ci[1]:.3g}]"


def table(rows: list[tuple[Row, Grade]], row_type: str) -> str:
    """Markdown table of one row type: id | where | the paper | ours [95% CI] | n | status | why."""
    out = ["| id | where | paper | ours [95% CI] | n | status | why |", "|---|---|---|---|---|---|---|"]
    for r, g in rows:
        if r.row != row_type:
            continue
        out.append(f"| {_cell(r.id)} | {_cell(r.where)} | {_cell(r.paper_shown)} | {_ours(g)} | "
                   f"{'' if g.n is None else g.n} | **{g.status}** | {_cell(g.reason)} |")
    return "\n".join(out) + "\n"


def section(notebook: str, doc: dict | None = None, root: str | Path = REPO, heading: bool = True,
            profile: str = "standard") -> str:
    """One notebook's closing comparison: the scorecard, then claims, controls and findings apart."""
    reg = load(notebook)
    rows = graded(notebook, doc, root, profile)
    out = [f"## {notebook}: {reg.paper.get('cite', '')}\n"] if heading else []
    if reg.paper.get("setting_paper") or reg.paper.get("setting_ours"):
        out.append(f"Paper's setting: {reg.paper.get('setting_paper', 'n/a')}. Ours: "
                   f"{reg.paper.get('setting_ours', 'n/a')}.\n")
    for row_type, title in (("claim", "The paper's claims"), ("control", "The kit's controls"),
                            ("finding", "The kit's own findings")):
        t = tally(rows, row_type)
        if not t["registered"]:
            continue
        counts = ", ".join(f"{t[s]} {s}" for s in STATUSES if t[s])
        out.append(f"**{title}** ({t['registered']}: {counts})\n\n" + table(rows, row_type))
    return "\n".join(out)


def closing(notebook: str, doc: dict | None = None, root: str | Path = REPO, profile: str = "standard") -> str:
    """A notebook's closing text, generated from its verdicts: the tally of the paper's claims, then which held,
    which did not and which stay open, each in the paper's words with our reason; controls and the kit's
    findings counted apart."""
    rows = graded(notebook, doc, root, profile)
    reg = load(notebook)
    t = tally(rows, "claim")
    out = []
    if t["registered"]:
        out.append(f"**{reg.paper.get('cite', notebook)}.** The registry lists {t['registered']} of its claims; "
                   f"{t['graded']} are graded here: {t['held']} held, {t['not held']} not held, "
                   f"{t['inconclusive']} inconclusive. {t['not comparable']} are absolute values on another model "
                   f"or data set (not comparable), {t['not testable']} cannot be tested here, {t['pending']} wait "
                   f"for a measurement the notebook does not save yet, and {t['refused']} were refused as tests "
                   "(their outcome is fixed by construction).\n")
        for status, title in (("held", "Held"), ("not held", "Not held"), ("inconclusive", "Inconclusive")):
            mine = [(r, g) for r, g in rows if r.row == "claim" and g.status == status]
            if mine:
                out.append(f"*{title}:*\n" + "\n".join(f"- {r.where}: \"{_cell(r.words)}\" ({_cell(g.reason)})"
                                                       for r, g in mine) + "\n")
    else:
        out.append("This notebook grades no claim of a paper.\n")
    for row_type, title in (("control", "controls"), ("finding", "findings of the kit's own")):
        c = tally(rows, row_type)
        if c["registered"]:
            counts = ", ".join(f"{c[s]} {s}" for s in STATUSES if c[s])
            lead = "Apart from the paper's claims, " if t["registered"] else ""
            out.append(f"{lead}{c['registered']} {title}: {counts}.\n")
    return "\n".join(out)


def summary(root: str | Path = REPO, profile: str = "standard") -> str:
    """results/SUMMARY.md: a scorecard per paper, then each notebook's claims, controls and findings (notebooks
    without results under `root` for `profile` are left out)."""
    books = [nb for nb in notebooks() if results_path(nb, profile, root).is_file()]
    graded_all = {nb: graded(nb, root=root, profile=profile) for nb in books}
    head = [f"# The papers' claims against this kit's numbers ({profile} profile)\n",
            "Generated from the claims registry (`claims/*.toml`: each claim in the paper's words, its statistic, "
            "tolerance and what transfers to our setting) and the results files (`results/*.json`) by "
            "`xaikit.claims.summary`. Each graded row applies the kit's one rule (`xaikit.stats.verdict`; orders "
            "among few methods: `xaikit.stats.order_verdict`, the exact permutation test) to our 95% interval: "
            "**held**, **not held**, **inconclusive** (too wide to tell), **not comparable** (an absolute value on "
            "another model or data set). **not testable** and **pending** rows say why they are not graded; "
            "**refused** rows are outcomes fixed by construction, never counted. Controls and the kit's own "
            "findings are tallied apart and never counted with the papers' claims.\n",
            "## Scorecard: the papers' claims\n",
            "| notebook | paper | claims in the registry | graded here | held | not held | inconclusive | "
            "not comparable | not testable | pending | refused |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for nb in books:
        t = tally(graded_all[nb], "claim")
        if not t["registered"]:
            continue
        cite = load(nb).paper.get("cite", "")
        head.append(f"| {nb} | {_cell(cite)} | {t['registered']} | {t['graded']} | "
                    + " | ".join(str(t[s]) for s in STATUSES) + " |")
    for row_type, title in (("control", "Controls"), ("finding", "The kit's own findings")):
        head += [f"\n## Scorecard: {title.lower()}\n",
                 "| notebook | rows | held | not held | inconclusive | not comparable | not testable | pending | "
                 "refused |", "|---|---|---|---|---|---|---|---|---|"]
        for nb in books:
            t = tally(graded_all[nb], row_type)
            if t["registered"]:
                head.append(f"| {nb} | {t['registered']} | " + " | ".join(str(t[s]) for s in STATUSES) + " |")
    body = [section(nb, root=root, profile=profile) for nb in books]
    return "\n".join(head) + "\n\n" + "\n".join(body)


def write_summary(root: str | Path = REPO, profile: str = "standard") -> Path:
    path = results_path("SUMMARY", profile, root, ".md")
    write_text(summary(root, profile), path)
    return path


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd, names = (argv[0] if argv else "check"), argv[1:]
    books = names or notebooks()
    if cmd == "check":
        bad = [p for nb in books for p in check(nb, _results(nb))]
        print("\n".join(bad) if bad else f"{len(books)} registries consistent with their results")
        return 1 if bad else 0
    if cmd == "regrade":
        for nb in books:
            print(f"{nb}: {regrade_results(nb)} entries regraded")
        print(f"summary: {write_summary()}")
        return 0
    raise SystemExit(f"usage: python -m xaikit.claims [check|regrade] [NOTEBOOK ...]; got {cmd!r}")


if __name__ == "__main__":
    sys.exit(main())
