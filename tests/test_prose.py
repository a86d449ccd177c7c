"""Numbers in prose come from the files: every field is filled from the results, timings and registry, and a
field that names nothing fails instead of printing a stale number."""
import pytest

from xaikit import claims, prose

DOC = {"notebook": "99_demo", "values": {
    "alpha F": {"value": 0.381, "ci": [0.32, 0.44], "n": 250, "verdict": "not held", "paper": 0.18},
    "count": {"value": 12, "n": 1}}}


def test_fields_are_filled_from_the_results():
    text = prose.render("F: {{ci:alpha F}}, n = {{n:alpha F}}, {{verdict:alpha F}} (paper {{paper:alpha F}}); "
                        "{{value:alpha F|.1%}}; {{value:count}} images; ran {{minutes:total}} min "
                        "({{seconds:total}} s)", DOC, timings={"total": 95.0})
    assert text == ("F: 0.381 [0.32, 0.44], n = 250, not held (paper 0.18); 38.1%; 12 images; ran 1.6 min "
                    "(95 s)")


def test_a_field_that_names_nothing_fails():
    with pytest.raises(KeyError, match="do not hold"):
        prose.render("{{ci:alpha G}}", DOC)
    with pytest.raises(KeyError, match="timings"):
        prose.render("{{minutes:total}}", DOC)
    with pytest.raises(KeyError, match="unknown"):
        prose.render("{{mean:alpha F}}", DOC)
    assert prose.render("no fields, {braces} and $x^{2}$ stay", DOC) == "no fields, {braces} and $x^{2}$ stay"


def test_counts_come_from_the_registry():
    graded = claims.graded("03_roar_remove_and_retrain")
    held = sum(g.status == "held" and r.row == "claim" for r, g in graded)
    assert prose.render("{{count:held}}", {"values": {}}, graded=graded) == str(held)
    controls = sum(g.status == "inconclusive" and r.row == "control" for r, g in graded)
    assert prose.render("{{count:inconclusive/control}}", {"values": {}}, graded=graded) == str(controls)


def test_results_render_grades_through_the_registry_and_shows_as_markdown(tmp_path):
    from xaikit import results
    res = results.Results("03_roar_remove_and_retrain", "smoke", seed=0, root=tmp_path)
    committed = results.load("03_roar_remove_and_retrain")["values"]
    key = "fashion_mnist/kar_minus_roar_spread"
    res.values[key] = {k: v for k, v in committed[key].items() if k not in ("verdict", "reason", "claim_id",
                                                                         "registry")}
    res.values[key]["verdict"] = "held"          # what a notebook's own kind might have said
    res.time("total", 120.0)
    text = res.render("{{verdict:" + key + "}} after {{minutes:total}} min")
    assert text == f"{committed[key]['verdict']} after 2.0 min" and text._repr_markdown_() == text
    assert res.values[key]["verdict"] == "held"  # rendering grades a copy
