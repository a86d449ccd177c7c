"""The claims registry: files parse, every saved comparison is graded through a registry row, the committed
verdicts and SUMMARY.md are what the registry and the saved values give, and the grading cases are pinned."""
from pathlib import Path

import numpy as np
import pytest

from xaikit import claims, results, stats
from xaikit.claims import Row

ROOT = Path(__file__).resolve().parent.parent
RESULTS = sorted(p.stem for p in (ROOT / "results").glob("[0-9][0-9]_*.json") if not p.name.endswith(".timings.json"))


def doc_of(nb):
    return results.read(ROOT / "results" / f"{nb}.json")


def test_every_notebook_with_results_has_a_registry():
    assert RESULTS and set(RESULTS) <= set(claims.notebooks())


@pytest.mark.parametrize("nb", RESULTS)
def test_registry_parses_and_grades_every_saved_comparison(nb):
    reg = claims.load(nb)
    assert reg.rows and reg.paper.get("key")
    assert claims.check(nb, doc_of(nb)) == []       # no row names a missing key, no comparison lacks a row,
    # no graded row rests on a degenerate interval


@pytest.mark.parametrize("nb", RESULTS)
def test_committed_verdicts_are_the_registrys(nb):
    """Re-grade the committed file from what it saved: a hand-edited verdict or a stale file cannot pass."""
    doc = doc_of(nb)
    assert claims.apply(nb, doc) == 0
    for k, e in results.comparisons(doc).items():
        assert e["verdict"] in claims.STATUSES and e["reason"] and e.get("claim_id"), (nb, k)


@pytest.mark.parametrize("nb", RESULTS)
def test_claim_rows_quote_the_paper_and_say_what_transfers(nb):
    reg = claims.load(nb)
    for r in reg.rows:
        if r.row == "claim" and r.keys() and not r.guaranteed:
            assert r.statistic and r.contradict and r.transfer_why, (nb, r.id)
        if r.kind == "order":
            assert r.tolerance is None, (nb, r.id)   # an order is decided by its permutation test


def test_summary_is_the_registrys_tally():
    text = (ROOT / "results" / "SUMMARY.md").read_text()
    assert text == claims.summary(ROOT)
    for nb in RESULTS:
        t = claims.tally(claims.graded(nb), "claim")
        assert t["graded"] == t["held"] + t["not held"] + t["inconclusive"]
        assert t["registered"] == sum(t[s] for s in claims.STATUSES)
        if t["registered"]:
            cite = claims.load(nb).paper["cite"].replace("|", "/")
            assert (f"| {nb} | {cite} | {t['registered']} | {t['graded']} | "
                    + " | ".join(str(t[s]) for s in claims.STATUSES) + " |") in text


# ------------------------------------------------------------------------------------------ the grading rule

def entry(lo, hi, est=None, n=40, **interval):
    est = (lo + hi) / 2 if est is None else est
    return {"value": est, "ci": [lo, hi], "n": n, "interval": dict(method="bca", **interval)}


def row(**kw):
    base = dict(id="r", row="claim", words="w", where="Table 1", statistic="s", transfers="value",
                transfer_why="same setting", contradict="c", measure="m")
    return Row(**{**base, **kw})


@pytest.mark.parametrize("kw,e,expected", [
    (dict(kind="value", paper_value=0.18, tolerance=0.05, tolerance_why="t"), entry(0.15, 0.22), "held"),
    (dict(kind="value", paper_value=0.18, tolerance=0.05, tolerance_why="t"), entry(0.32, 0.44), "not held"),
    (dict(kind="value", paper_value=0.18, tolerance=0.05, tolerance_why="t"), entry(0.20, 0.30), "inconclusive"),
    (dict(kind="value", paper_value=0.18, tolerance=0.05, tolerance_why="t", transfers="direction"),
     entry(0.15, 0.22), "not comparable"),
    (dict(kind="value", paper_value=[0.57, 0.77], tolerance=0.05, tolerance_why="t"), entry(0.60, 0.70), "held"),
    (dict(kind="value", paper_value=[0.57, 0.77], tolerance=0.05, tolerance_why="t"), entry(0.10, 0.30),
     "not held"),
    (dict(kind="direction", direction="greater"), entry(0.1, 0.3), "held"),
    (dict(kind="direction", direction="less", reference=0.65), entry(0.7, 0.8), "not held"),
    (dict(kind="equivalence", tolerance=0.02, tolerance_why="t"), entry(-0.01, 0.015), "held"),
    (dict(kind="equivalence", tolerance=0.02, tolerance_why="t"), entry(0.03, 0.06), "not held"),
    (dict(kind="direction", direction="greater"), entry(1.0, 1.0), "inconclusive"),     # degenerate
    (dict(kind="direction", direction="greater", guaranteed="loss = -log p"), entry(0.1, 0.3), "refused"),
])
def test_grade_entry(kw, e, expected):
    g = claims.grade_entry(row(**kw), e)
    assert g.status == expected, g.reason


def test_orders_are_decided_by_the_exact_permutation_test():
    r = row(kind="order")
    five = {"value": 1.0, "ci": [1.0, 1.0], "n": 40, "methods": list("abcde")}
    assert claims.grade_entry(r, five).status == "held"                  # p = 1/120
    assert claims.grade_entry(r, dict(five, value=0.8)).status == "inconclusive"   # p = 8/120
    assert claims.grade_entry(r, dict(five, value=-1.0)).status == "not held"
    three = {"value": 1.0, "paper": {"a": 1, "b": 2, "c": 3}}
    assert "smallest p" in claims.grade_entry(r, three).reason
    # an order over a table's cells: our cell estimates against the paper's
    cells = {f"c{i}": {"value": v, "ci": [v, v], "n": 40} for i, v in enumerate([0.1, 0.3, 0.2, 0.5, 0.4, 0.6])}
    over = row(kind="order", measure=None, measures=list(cells), paper_values=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    g = claims.grade(over, {"values": cells})
    assert g.estimate == pytest.approx(stats.rank_test(np.array([0.1, 0.3, 0.2, 0.5, 0.4, 0.6]),
                                                       np.arange(6.0)).statistic)
    assert g.status == "held" and g.n == 6


def test_a_table_summary_is_one_verdict():
    cells = {"a": entry(0.2, 0.3), "b": entry(0.4, 0.5), "c": entry(0.55, 0.7)}
    r = row(kind="direction", direction="less", reference=0.65, measure=None, measures=["a", "b"], combine="all")
    assert claims.grade(r, {"values": cells}).status == "held"
    r2 = row(kind="direction", direction="less", reference=0.65, measure=None, measures=["a", "c"], combine="all")
    assert claims.grade(r2, {"values": cells}).status == "inconclusive"
    r3 = row(kind="direction", direction="less", reference=0.5, measure=None, measures=["a", "c"], combine="all")
    assert claims.grade(r3, {"values": cells}).status == "not held"


def test_rows_that_are_not_graded_say_why():
    assert claims.grade(row(measure=None, not_testable="needs ImageNet-val"), {"values": {}}).status == "not testable"
    assert claims.grade(row(measure=None, pending="median curve"), {"values": {}}).status == "pending"
    assert claims.grade(row(kind="direction", direction="greater", measure="absent"), {"values": {}}).status == "pending"


def test_malformed_registries_are_refused(tmp_path):
    (tmp_path / "claims").mkdir()
    bad = tmp_path / "claims" / "99_x.toml"
    bad.write_text('[paper]\nkey = "x"\n[[claim]]\nid = "a"\nrow = "claim"\nwords = "w"\nwhere = "T1"\n'
                   'measure = "m"\nkind = "value"\n'
                   '[[claim]]\nid = "a"\nrow = "opinion"\nwords = "w"\nwhere = "T1"\nmeasure = "m"\n'
                   'not_testable = "x"\nkind = "direction"\n')
    with pytest.raises(ValueError) as e:
        claims.load("99_x", tmp_path)
    text = str(e.value)
    for words in ("needs a tolerance", "row must be one of", "exactly one of", "used twice", "graded by two rows",
                  "direction = 'greater'"):
        assert words in text, words


def test_results_save_grades_through_the_registry(tmp_path, monkeypatch):
    reg = tmp_path / "claims"
    reg.mkdir()
    (reg / "99_demo.toml").write_text(
        '[paper]\nkey = "demo"\ncite = "Demo 2020"\nnotebook = "99_demo"\n'
        '[[claim]]\nid = "t1.gb"\nrow = "claim"\nwords = "GB 0.90"\nwhere = "Table 1"\nstatistic = "mean SSIM"\n'
        'kind = "value"\npaper_value = 0.5\ntolerance = 0.01\ntolerance_why = "printed to 2 digits"\n'
        'transfers = "value"\ntransfer_why = "same model"\ncontradict = "interval outside 0.5 +- 0.01"\n'
        'measure = "ssim.gb"\n')
    monkeypatch.setattr(claims, "registry_dir", lambda root=None: reg)
    res = results.Results("99_demo", "smoke", seed=0, root=tmp_path)
    x = np.random.default_rng(0).normal(0.9, 0.01, size=50)
    # the notebook's own kind and reference are overruled: the registry tests against 0.5 +- 0.01
    v = res.compare("ssim.gb", x, claim="mean SSIM, GB", kind="greater", reference=0.0)
    assert v.verdict == "not held"
    res.save()
    e = results.read(res.path)["values"]["ssim.gb"]
    assert e["claim_id"] == "t1.gb" and e["verdict"] == "not held" and e["registry"]["kind"] == "value"
    assert e["registry"]["tolerance"] == 0.01 and e["kind"] == "greater"   # what the notebook asked stays
    assert "| t1.gb |" in res.comparison_table()


def test_paper_value_reads_the_row_that_grades_a_measurement():
    assert claims.paper_value("00_tour", "top1_accuracy") == claims.load("00_tour").row("top1_accuracy").paper_value
    nb = "02_sanity_checks_for_saliency_metrics"
    assert claims.paper_value(nb, "test_accuracy") == claims.load(nb).by_measure()["test_accuracy"].paper_value
    with pytest.raises(KeyError, match="no registry row grades"):
        claims.paper_value("00_tour", "no_such_measurement")
    with pytest.raises(ValueError, match="gives no paper_value"):   # an order row: no single number
        claims.paper_value(nb, "aopc.lerf.mean.rank_agreement_with_paper")
