"""Execute notebooks with papermill: `python -m xaikit.run [--profile P] [--out DIR] [NOTEBOOK ...]`.

Executed copies (with outputs) go to notebooks/executed/ (standard) or notebooks/executed/<profile>/.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .results import PROFILES, REPO, write_summary

NOTEBOOKS = REPO / "notebooks"


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


def execute(nb: Path, profile: str = "standard", out: Path = REPO, seed: int = 0, executed: Path | None = None,
            timeout: int | None = None, **parameters) -> Path:
    """Run one notebook with parameters profile, seed and out_dir; returns the executed copy's path."""
    import papermill as pm
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}")
    executed = Path(executed or (NOTEBOOKS / "executed" / ("" if profile == "standard" else profile)))
    executed.mkdir(parents=True, exist_ok=True)
    target = executed / nb.name
    pm.execute_notebook(str(nb), str(target), cwd=str(nb.parent), kernel_name="python3",
                        parameters=dict(profile=profile, seed=seed, out_dir=str(Path(out).resolve()), **parameters),
                        progress_bar=False, log_output=True, execution_timeout=timeout)
    return target


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("notebooks", nargs="*", help="names or prefixes (default: all)")
    ap.add_argument("--profile", default="standard", choices=PROFILES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO), help="root under which results/ and figures/ are written")
    args = ap.parse_args(argv)
    for nb in notebooks(args.notebooks):
        t = time.time()
        print(f"== {nb.stem} ({args.profile})", flush=True)
        execute(nb, args.profile, Path(args.out), args.seed)
        print(f"== {nb.stem} done in {time.time() - t:.0f} s", flush=True)
    print(f"summary: {write_summary(args.out, args.profile)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
