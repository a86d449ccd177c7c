"""06_audit_your_model in the smoke profile (and the committed standard run, where there is one): every lens ran,
ROAR included (on the small CNN, not skipped); the saved intervals are what `stats.bootstrap`,
`reliability.bootstrap_alpha` and `stats.censored_summary` give on the saved per-image values; the report tables
carry exactly those numbers; every reading is the kit's verdict."""

import numpy as np
import pytest

from _checks import check_comparisons
from xaikit import reliability, results, stats

NB = "06_audit_your_model"
LENSES = ("augmentation.ssim", "faithfulness.aopc_morf", "faithfulness.aopc_lerf", "faithfulness.f", "apem.apem",
          "pic.sic", "pic.aic")
MEAN_LENSES = ("augmentation.ssim", "faithfulness.aopc_morf", "faithfulness.aopc_lerf", "faithfulness.f")
N_BOOT = {"smoke": 1000, "standard": 10_000}


def close(a, b):
    return a == pytest.approx(b, rel=1e-5, abs=1e-9)   # saved numbers carry 6 significant digits


def check(v, profile):
    compared = check_comparisons(v)
    methods = list(v["methods"]["value"])
    real = [m for m in methods if m != "random"]
    names = v["draw"]["value"]
    assert len(set(names)) == len(names) == v["draw"]["n"]
    for lens in LENSES:
        for m in methods:
            assert f"{lens}.{m}.per_image" in v, (lens, m)
    # per-image values -> the saved interval, for the lenses summarised by a mean
    for lens in MEAN_LENSES:
        for m in methods:
            pi = v[f"{lens}.{m}.per_image"]
            key = f"{lens}.{m}"
            if key not in compared:
                assert lens == "augmentation.ssim" and f"{key}.summary" in v
                e = v[f"{key}.summary"]
            else:
                e = compared[key]
            ci = stats.bootstrap(np.array(pi["value"]), n_resamples=N_BOOT[profile], seed=0)
            # a mean of values rounded to 6 digits: within 1e-5 of the largest |value| (cancellation)
            assert abs(e["value"] - ci.estimate) <= 1e-5 * np.abs(pi["value"]).max() + 1e-9, key
            # the saved per-image values carry 6 digits: at small n the BCa quantiles can jump with the last one
            if len(pi["value"]) >= 20:
                tol = 0.02 * (ci.high - ci.low) + 1e-9
                assert abs(e["ci"][0] - ci.low) <= tol and abs(e["ci"][1] - ci.high) <= tol, key
            assert e["ci"][0] <= e["value"] <= e["ci"][1]
            assert e["n"] == len(pi["value"]) == len(pi["unit_ids"])
            assert set(pi["unit_ids"]) <= set(names)
    # APEM: a median; with no censored eps+ it is the plain median of the saved values
    for m in methods:
        pi = v[f"apem.apem.{m}.per_image"]["value"]
        e = compared[f"apem.apem.{m}"]
        if v["apem.censored_eps_plus"]["value"][m] == 0:
            s = stats.censored_summary(np.array(pi), censored=np.zeros(len(pi), bool), n_resamples=N_BOOT[profile],
                                       seed=0)
            assert close(e["value"], s["median"]) and close(e["ci"][0], s["low"]), m
    # reliability: alpha of the saved rankings
    for lens in LENSES + ("roar.roar_accuracy_drop_vs_random",):
        key = f"reliability.alpha[{lens}]"
        ranks = v[f"{key}.ranks"]["value"]
        table = np.stack([np.array(ranks[m]) for m in ranks], 1)
        if key in compared:
            want = reliability.bootstrap_alpha(table, n_resamples=N_BOOT[profile], seed=0)
            assert close(compared[key]["value"], want["alpha"]) and close(compared[key]["ci"][0], want["lo"])
        assert np.all(np.sort(table, 1) >= 1) and np.allclose(table.sum(1), table.shape[1] * (table.shape[1] + 1) / 2)
    # ROAR ran on the small CNN (the pretrained model has no training function)
    roar_acc = v["roar.accuracy"]
    assert "small CNN" in roar_acc["on"] and roar_acc["trainings"] == len(roar_acc["value"])
    assert any(k.startswith("roar.roar_accuracy_drop_vs_random.") for k in compared)
    # the report of each real method: one row per lens result with that method, plus the reliability rows
    for m in real:
        table = v[f"report.{m}"]["value"]
        rows = {(r["lens"], r["metric"]): r for r in table}
        for lens in LENSES:
            a, b = lens.split(".")
            r = rows[a, b]
            e = compared.get(f"{lens}.{m}") or v.get(f"{lens}.{m}.summary")
            if e is None:
                assert r["estimate [95% CI]"] == "n/a"
                continue
            assert r["estimate [95% CI]"] == f"{e['value']:.3g} [{e['ci'][0]:.3g}, {e['ci'][1]:.3g}]", (m, lens)
            if f"{lens}.{m}" in compared:
                word = {"held": "yes", "not held": "no", "inconclusive": "undecided"}[compared[f"{lens}.{m}"]["verdict"]]
                assert r["reading"].startswith(word), (m, lens, r["reading"])
        assert sum(r["lens"] == "reliability" for r in table) >= len(LENSES) - 1
    return compared


@pytest.fixture(scope="module")
def smoke(run_smoke):
    return run_smoke(NB)["values"]


def test_smoke_run_saves_every_lens_and_consistent_numbers(smoke):
    compared = check(smoke, "smoke")
    assert smoke["draw"]["n"] == 4
    # one graded reading per method for each lens with a reference, and one per reliability with alpha defined
    methods = list(smoke["methods"]["value"])
    paired = ("augmentation.ssim_minus_random.", "pic.sic.", "pic.aic.")   # differences between maps, below
    graded = [k for k in compared if not k.startswith(("reliability.", "roar.") + paired)]
    assert len(graded) <= 4 * len(methods) and all(k.split(".")[0] in ("faithfulness", "apem") for k in graded)
    # the SSIM lens against the random map (xaikit.derive): one paired difference per real method
    real = [m for m in methods if m != "random"]
    assert sorted(k for k in compared if k.startswith("augmentation.ssim_minus_random.")) == sorted(
        f"augmentation.ssim_minus_random.{m}" for m in real)
    # the PIC paired differences: SIC against the random map; Grad-CAM against each other real method, SIC and AIC
    pic_pairs = [f"pic.sic.{m}_minus_random" for m in real] + [
        f"pic.{k}.grad_cam_minus_{m}" for k in ("sic", "aic") for m in real if m != "grad_cam" and "grad_cam" in real]
    assert sorted(k for k in compared if k.startswith(("pic.sic.", "pic.aic."))) == sorted(pic_pairs)
    assert all(f"apem.apem.{m}" in compared for m in methods)


def test_smoke_figures(smoke, smoke_path):
    d = smoke_path(NB) / "figures" / NB / "smoke"
    methods = [m for m in smoke["methods"]["value"] if m != "random"]
    for f in ["maps.png"] + [f"report_{m}.png" for m in methods]:
        assert (d / f).is_file() and (d / f).stat().st_size > 10_000, f


def test_committed_standard_run():
    path = results.REPO / "results" / f"{NB}.json"
    if not path.is_file():
        pytest.skip("no committed standard run")
    doc = results.read(path)
    v = doc["values"]
    check(v, "standard")
    assert v["draw"]["n"] >= 24
    for m in v["methods"]["value"]:
        assert (results.REPO / "figures" / NB / f"report_{m}.png").is_file() or m == "random"
