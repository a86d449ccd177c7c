"""Execute notebooks with papermill:
`python -m xaikit.run [--profile P] [--seed S] [--out DIR] [-p NAME VALUE ...] [NOTEBOOK ...]`.

Executed copies (with outputs) go to notebooks/executed/ (standard) or notebooks/executed/<profile>/. Every
notebook runs in the kernel registered as "xaikit" (`make env` registers it for .venv), whatever kernel its
metadata names, so a notebook cannot silently run in another interpreter. `-p name value` sets a notebook
parameter (repeatable; the value is read as YAML, so `-p n_images 8` is an int and `-p root /data` a string).
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import os
import sys
import time
from pathlib import Path

from .claims import write_summary
from .results import PROFILES, REPO, load, moved, moved_report, results_path

NOTEBOOKS = REPO / "notebooks"
KERNEL = "xaikit"
RESERVED = ("profile", "seed", "out_dir")


def notebooks(names=()) -> list[Path]:
    found = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return found
    chosen = []
    for n in names:
        match = [p for p in found if p.stem == n or p.stem.startswith(n)]
        if not match:
            raise SystemExit(f"no notebook matches {n!r}; have {[p.stem for p in found]}")
        chosen += match
    return chosen


def parse_value(text: str):
    """A parameter value from the command line: YAML (ints, floats, booleans, lists), else a Python literal,
    else the string itself."""
    try:
        import yaml
        return yaml.safe_load(text)
    except Exception:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _relative(path: Path, start: Path) -> str:
    """path relative to start when both are on one tree (what papermill records in the notebook), else absolute."""
    try:
        return os.path.relpath(Path(path).resolve(), start.resolve())
    except ValueError:
        return str(Path(path).resolve())


def _check_kernel(name: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager
    if name not in KernelSpecManager().find_kernel_specs():
        raise SystemExit(f"Jupyter kernel {name!r} is not registered for {sys.executable}. Run `make env`, or: "
                         f"{sys.executable} -m ipykernel install --sys-prefix --name {name} "
                         f"--display-name \"xaikit (.venv)\"")


# The smoke profile is the test suite's: one thread (two runs share two cores beside the unit tests; more threads
# than cores make torch's OpenMP workers spin against each other) and a fixed forward batch instead of a timed plan,
# so that its results file is the same on every machine and load, up to the CPU's kernels. Set variables win.
SMOKE_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "XAIKIT_FORWARD_BATCH": "16"}


def kernel_variables(profile: str, threads: int | None = None, environ=os.environ) -> dict:
    """The variables a notebook's kernel gets on top of `environ`: the smoke profile's where not already set, and
    `threads` (--threads) as OMP_NUM_THREADS / MKL_NUM_THREADS always."""
    out = {k: v for k, v in (SMOKE_ENV if profile == "smoke" else {}).items() if k not in environ}
    if threads:
        out.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return out


@contextlib.contextmanager
def _kernel_env(variables: dict):
    """os.environ (which the kernel inherits) with `variables` set, restored afterwards."""
    old = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute(nb: Path, profile: str = "standard", out: Path = REPO, seed: int = 0, executed: Path | None = None,
            timeout: int | None = None, kernel: str = KERNEL, threads: int | None = None, **parameters) -> Path:
    """Run one notebook with parameters profile, seed and out_dir (plus `parameters`); returns the executed
    copy's path. Paths recorded in the executed notebook are relative to the notebook's folder."""
    import papermill as pm
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}")
    clash = [k for k in parameters if k in RESERVED]
    if clash:
        raise ValueError(f"{clash} are set by --profile/--seed/--out, not as notebook parameters")
    _check_kernel(kernel)
    executed = Path(executed or (NOTEBOOKS / "executed" / ("" if profile == "standard" else profile)))
    executed.mkdir(parents=True, exist_ok=True)
    target = executed / nb.name
    cwd = nb.parent.resolve()
    # Relative paths (the notebook runs in its own folder): no machine's absolute path in committed outputs.
    with _kernel_env(kernel_variables(profile, threads)):
        pm.execute_notebook(_relative(nb, Path.cwd()), _relative(target, Path.cwd()), cwd=str(cwd),
                            kernel_name=kernel, progress_bar=False, log_output=True, execution_timeout=timeout,
                            parameters=dict(profile=profile, seed=seed, out_dir=_relative(out, cwd), **parameters))
    _record_kernel(target, kernel)
    shrink_outputs(target)
    return target


MAX_WIDTH = 640         # pixels of a figure as shown in an executed notebook; figures/ keeps full resolution


def _smaller_image(png: bytes, max_width: int = MAX_WIDTH) -> tuple[str, bytes]:
    """A figure as shown in the notebook: at most max_width pixels wide, as a 256-colour PNG or a JPEG,
    whichever is smaller (line plots stay PNG, maps and photographs become JPEG)."""
    import io

    from PIL import Image
    im = Image.open(io.BytesIO(png)).convert("RGB")
    if im.width > max_width:
        im = im.resize((max_width, round(im.height * max_width / im.width)), Image.LANCZOS)
    out = {}
    buf = io.BytesIO()
    im.quantize(256, method=Image.Quantize.MEDIANCUT).save(buf, "PNG", optimize=True)
    out["image/png"] = buf.getvalue()
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80, optimize=True)
    out["image/jpeg"] = buf.getvalue()
    kind = min(out, key=lambda k: len(out[k]))
    return kind, out[kind]


def _width(image: bytes) -> int:
    import io

    from PIL import Image
    return Image.open(io.BytesIO(image)).width


def shrink_outputs(path: Path, max_width: int = MAX_WIDTH) -> int:
    """Make an executed notebook light: every embedded figure (PNG, or a JPEG wider than max_width) re-encoded
    by `_smaller_image` where that is smaller; cell sources are untouched. Returns the bytes saved."""
    import base64

    import nbformat
    nb = nbformat.read(str(path), as_version=4)
    saved = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            was = next((k for k in ("image/png", "image/jpeg") if k in data), None)
            if was is None:
                continue
            img = base64.b64decode(data[was])
            if was == "image/jpeg" and _width(img) <= max_width:
                continue    # a JPEG already shown small: re-encoding would only lose quality
            kind, small = _smaller_image(img, max_width)
            if len(small) < len(img):
                del data[was]
                data[kind] = base64.b64encode(small).decode()
                saved += len(img) - len(small)
    if saved:
        nbformat.write(nb, str(path))
    return saved


def _record_kernel(path: Path, kernel: str) -> None:
    """Say in the executed copy which kernel ran it (papermill keeps the source notebook's kernelspec)."""
    import nbformat
    nb = nbformat.read(str(path), as_version=4)
    spec = {"name": kernel, "display_name": f"{kernel} (.venv)" if kernel == KERNEL else kernel, "language": "python"}
    if nb.metadata.get("kernelspec") != spec:
        nb.metadata["kernelspec"] = spec
        nbformat.write(nb, str(path))


def carry_source_edits(executed: Path, source: Path, why: str) -> list[int]:
    """Give an executed copy its notebook's current cell sources where they changed after the run in a way that
    cannot change a run's outputs (a new profile's row in a sizes table, a setup cell that does nothing outside
    Colab), and say so in its metadata (`xaikit.edited_after_run`: which cells, why). An edited cell keeps the
    outputs its old source gave; an inserted cell has none. Returns the indices of the edited cells; the next run
    of the notebook replaces the copy (and the record) with a plain one. Any other change needs a run."""
    import difflib

    import nbformat
    old, new = nbformat.read(str(executed), as_version=4), nbformat.read(str(source), as_version=4)
    injected = [c for c in old.cells if "injected-parameters" in c.metadata.get("tags", [])]
    kept = [c for c in old.cells if c not in injected]
    edited, cells = [], []
    ops = difflib.SequenceMatcher(a=[c.source for c in kept], b=[c.source for c in new.cells], autojunk=False)
    for tag, i1, i2, j1, j2 in ops.get_opcodes():
        if tag == "equal":
            cells += kept[i1:i2]
            continue
        # a cell tagged `colab` is new (the Colab setup); every other changed cell pairs with the old one in place
        fresh = [j for j in range(j1, j2) if tag == "insert" or "colab" in new.cells[j].metadata.get("tags", [])]
        paired = [j for j in range(j1, j2) if j not in fresh]
        if tag == "delete" or len(paired) != (i2 - i1 if tag == "replace" else 0):
            raise ValueError(f"{executed.name}: cells {i1}..{i2 - 1} were removed or split: run the notebook")
        for j in range(j1, j2):
            cell = new.cells[j].copy() if j in fresh else kept[i1 + paired.index(j)].copy()
            if cell.cell_type != new.cells[j].cell_type:
                raise ValueError(f"{executed.name}: cell {j} changed type: run the notebook")
            cell.source = new.cells[j].source
            cell.metadata = new.cells[j].metadata
            cells.append(cell)
            edited.append(j)
    # the injected parameters go back after the parameters cell, where papermill put them
    at = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    old.cells = cells[:at + 1] + injected + cells[at + 1:]
    if edited:
        record = old.metadata.setdefault("xaikit", {}).setdefault("edited_after_run", [])
        record.append(dict(cells=edited, why=why))
        nbformat.write(old, str(executed))
    return edited


def _run_time(notebook: str, profile: str, root: Path = REPO) -> tuple[dict, float | None]:
    """The committed timings file ({} when there is none) and its run's wall time: the runner's record, else the
    notebook's own total (None when neither is there)."""
    import json
    try:
        t = json.loads(results_path(notebook, profile, root, ".timings.json").read_text())
    except (OSError, ValueError):
        return {}, None
    sec = t.get("seconds", {})
    return t, next((float(sec[k]) for k in ("run_wall", "total", "total_s") if k in sec), None)


def expected(notebook: str, profile: str) -> str:
    """', about N min (the committed run: its machine)' from the notebook's timings file, or ''."""
    t, total = _run_time(notebook, profile)
    if total is None:
        return ""
    took = f"{total / 60:.0f} min" if total >= 90 else f"{total:.0f} s"
    return f", about {took} (the committed run: {t.get('hardware', 'unknown machine')}; faster with cached maps)"


def _took(notebook: str, profile: str) -> str:
    t, total = _run_time(notebook, profile)
    if total is None:
        return "not run"
    load = t.get("run_load_per_core")
    busy = f", load {load:.1f}/core" if load is not None else ""
    return f"{total / 60:.1f} min ({t.get('hardware', '?').replace('CPU: ', '')}{busy})"


def _record_run(notebook: str, profile: str, out: Path, wall: float, load: float | None) -> None:
    """Add the runner's wall time and the machine's mean load per core during the run to the timings file."""
    import json

    from .results import write_json
    path = results_path(notebook, profile, out, ".timings.json")
    if not path.is_file():
        return
    t = json.loads(path.read_text())
    t.setdefault("seconds", {})["run_wall"] = round(wall, 1)
    if load is not None:
        t["run_load_per_core"] = round(load, 2)
    write_json(t, path)


class _Load:
    """Mean 1-minute load average per core, sampled every 15 s while a notebook runs (None where unknown)."""

    def __enter__(self):
        import threading
        self.samples, self._stop = [], threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        if not hasattr(os, "getloadavg"):
            return
        from .models import machine_load   # the forward plans' measure of a busy machine
        while not self._stop.wait(15):
            self.samples.append(machine_load())

    def __exit__(self, *exc):
        self._stop.set()
        self.mean = sum(self.samples) / len(self.samples) if self.samples else None


def timing_table(profiles=("lecture", "standard")) -> str:
    """The README's table of run times, from the committed timings files (one column per profile)."""
    rows = ["| notebook | " + " | ".join(profiles) + " |", "|---|" + "---|" * len(profiles)]
    for nb in notebooks():
        rows.append(f"| {nb.stem} | " + " | ".join(_took(nb.stem, p) for p in profiles) + " |")
    return "\n".join(rows)


def write_timing_table(readme: Path = REPO / "README.md") -> bool:
    """Put `timing_table()` between the README's <!-- timing-table --> markers; True when it changed."""
    import re

    from .results import write_text
    text = readme.read_text()
    new = re.sub(r"<!-- timing-table -->\n.*?<!-- /timing-table -->",
                 lambda _: f"<!-- timing-table -->\n{timing_table()}\n<!-- /timing-table -->", text, flags=re.S)
    if new != text:
        write_text(new, readme)
    return new != text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", help="names or prefixes (default: all)")
    ap.add_argument("--profile", default="standard", choices=PROFILES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO), help="root under which results/ and figures/ are written")
    ap.add_argument("--executed", default=None, help="folder for the executed copies (default notebooks/executed/)")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="notebook parameter (repeatable), e.g. -p imagenet_val /data/imagenet")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads per notebook kernel (OMP_NUM_THREADS); one is often faster on a busy 2-core "
                         "machine; smoke runs use one unless set")
    ap.add_argument("--timing-table", action="store_true",
                    help="write the README's table of run times from the timings files, print it and stop")
    args = ap.parse_args(argv)
    if args.timing_table:
        write_timing_table()
        print(timing_table())
        return 0
    if args.threads is not None and args.threads < 1:
        ap.error(f"--threads {args.threads}: give a positive number of threads")
    params = {name: parse_value(value) for name, value in args.parameter}
    clash = sorted(set(params) & set(RESERVED))
    if clash:
        ap.error(f"{clash}: set these with --profile, --seed and --out, not -p")
    if "threads" in params:
        ap.error("set the kernel's torch threads with --threads, not -p threads")
    reports = []
    for nb in notebooks(args.notebooks):
        t = time.time()
        print(f"== {nb.stem} ({args.profile})" + (f" {params}" if params else "") + expected(nb.stem, args.profile),
              flush=True)
        try:
            before = load(nb.stem, args.profile, args.out)
        except FileNotFoundError:
            before = None
        with _Load() as sampler:
            execute(nb, args.profile, Path(args.out), args.seed, executed=args.executed, threads=args.threads,
                    **params)
        _record_run(nb.stem, args.profile, Path(args.out), time.time() - t, sampler.mean)
        print(f"== {nb.stem} done in {time.time() - t:.0f} s", flush=True)
        if before is not None:
            reports.append(moved_report(nb.stem, moved(before, load(nb.stem, args.profile, args.out))))
    if reports:
        print("== against the results that were there before the run:\n" + "\n".join(reports))
    print(f"summary: {write_summary(args.out, args.profile)}")
    if Path(args.out).resolve() == REPO.resolve() and write_timing_table():
        print("README: table of run times updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
