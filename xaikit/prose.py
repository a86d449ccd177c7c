"""Numbers in a notebook's prose, read from its results and timings, so that text and files cannot drift.

`render("F, mean, with edge: {{ci:table1.alpha.F.mean.with_edge}} (n = {{n:table1.alpha.F.mean.with_edge}})",
doc)` gives "F, mean, with edge: 0.38 [0.32, 0.44] (n = 250)". Fields:

- `{{value:KEY}}`, `{{ci:KEY}}` (estimate [low, high]), `{{low:KEY}}`, `{{high:KEY}}`, `{{n:KEY}}`,
  `{{verdict:KEY}}`, `{{paper:KEY}}`: an entry of the results document (`Results.document()` or `results.load`);
- `{{minutes:NAME}}`, `{{seconds:NAME}}`: a wall time from the timings file (`Results.timings` or the
  `seconds` of `<notebook>.timings.json`);
- `{{count:STATUS}}`, `{{count:STATUS/ROW}}`: how many registry rows of a type (claim by default) have that
  status (`claims.graded`);
- a format after a bar: `{{value:KEY|.1%}}`; numbers default to 3 significant digits.

A field that names nothing raises KeyError: prose cannot quote a number the files do not hold.
"""
from __future__ import annotations

import re

class Prose(str):
    """Rendered text that a notebook shows as Markdown when it is a cell's last value."""

    def _repr_markdown_(self) -> str:
        return str(self)


FIELD = re.compile(r"\{\{(\w+):(.+?)(?:\|([^}]*))?\}\}")
ENTRY_FIELDS = ("value", "ci", "low", "high", "n", "verdict", "paper")


def _num(v, spec: str | None) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if spec:
        return format(v, spec)
    return str(v) if isinstance(v, int) else f"{v:.3g}"


def render(template: str, doc: dict, timings: dict | None = None, graded=None) -> str:
    """Fill the `{{field:key}}` places of `template` from a results document, its timings (name -> seconds) and
    the registry's grading of the notebook (`claims.graded(...)`, only for `count`)."""
    values = doc.get("values", {})

    def fill(m: re.Match) -> str:
        field, key, spec = m.group(1), m.group(2).strip(), m.group(3)
        if field in ENTRY_FIELDS:
            if key not in values:
                raise KeyError(f"prose names {key!r}, which the results of {doc.get('notebook')} do not hold")
            e = values[key]
            if field == "ci":
                lo, hi = e["ci"]
                return f"{_num(e['value'], spec)} [{_num(lo, spec)}, {_num(hi, spec)}]"
            if field in ("low", "high"):
                return _num(e["ci"][0 if field == "low" else 1], spec)
            if field not in e:
                raise KeyError(f"prose names {field} of {key!r}, which that entry does not hold")
            return _num(e[field], spec)
        if field in ("minutes", "seconds"):
            if timings is None or key not in timings:
                raise KeyError(f"prose names the time {key!r}, which the timings do not hold")
            s = float(timings[key])
            return _num(s / 60 if field == "minutes" else s, spec or (".0f" if field == "seconds" else ".1f"))
        if field == "count":
            if graded is None:
                raise KeyError("prose counts verdicts: pass graded=claims.graded(notebook, doc)")
            status, _, row = key.partition("/")
            return str(sum(g.status == status and r.row == (row or "claim") for r, g in graded))
        raise KeyError(f"unknown prose field {field!r} in {m.group(0)!r}")

    return Prose(FIELD.sub(fill, template))
