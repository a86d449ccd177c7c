"""xaikit.derive: statistics from saved per-unit values. Re-deriving a committed results file must reproduce the
entries it holds, and each derived entry must agree with a direct computation from the saved values it names."""
import numpy as np
import pytest

from xaikit import apem, claims, derive, reliability, results, stats

APEM, ROAR, AUDIT = "04_apem_adversarial_perturbation", "03_roar_remove_and_retrain", "06_audit_your_model"
SANITY, AUGMENT = "02_sanity_checks_for_saliency_metrics", "01_dont_augment_me"


# 02's derivation takes minutes (120 bootstraps of inter-method rho); its entries are checked against the saved
# scores and levels below instead of being re-derived here
@pytest.fixture(scope="module", params=[AUGMENT, APEM, ROAR, AUDIT])
def rederived(request):
    saved = results.read(results.results_path(request.param))
    res = results.Results.reopen(request.param)
    added = derive.run(request.param, res)
    return request.param, saved, res, added


def test_rederiving_the_committed_file_reproduces_its_entries(rederived):
    nb, saved, res, added = rederived
    assert added, f"{nb}: nothing derived"
    doc = res.document()
    claims.apply(nb, doc)   # as Results.save grades them (a table's cells carry its summary row's verdict)
    for k in added:
        assert k in saved["values"], f"{nb}: {k} missing from the committed file: run `python -m xaikit.derive {nb}`"
        # the live run computed from full-precision values, this one from the file's 6 significant digits
        m = results.moved({"values": {k: saved["values"][k]}}, {"values": {k: doc["values"][k]}}, rtol=1e-3, atol=1e-4)
        assert not m["values"] and not m["verdicts"], (k, m)
        assert set(res.values[k]["derived_from"]) <= set(saved["values"])


def test_every_derived_entry_is_graded_by_a_registry_row(rederived):
    nb, _, res, added = rederived
    named = claims.load(nb).by_measure()
    for k in added:
        assert k in named and res.values[k]["verdict"] in claims.STATUSES, k


def test_apem_derived_values_match_a_direct_count():
    v = results.read(results.results_path(APEM))["values"]
    cap = v["search_forward"]["params"]["max_eps"]
    em_g, em_s = (np.array(v[f"eps_minus_{m}"]["value"], float) for m in ("Gradient", "SmoothGrad"))
    both = (em_g <= cap) & (em_s <= cap)   # both found: the censor-aware sign is the plain sign
    e = v["eps_minus_Gradient_below_SmoothGrad"]
    assert np.array_equal(np.array(e["units"])[both], np.sign(em_s - em_g)[both])
    # the fraction of Gradient below LRP: a count over images whose order the cap does not hide
    b = {m: apem.apem_bounds(v[f"eps_minus_{m}"]["value"], v[f"eps_plus_{m}"]["value"], cap) for m in ("Gradient", "LRP")}
    s = apem.bound_sign(b["Gradient"], b["LRP"])
    f = v["gradient_below_lrp_fraction"]
    assert f["n"] == len(s) - f["undecided_by_cap"] and f["value"] == pytest.approx((s < 0).sum() / f["n"], rel=1e-5)
    assert f["interval"]["method"] == "clopper-pearson" and f["ci"][0] < f["value"] < f["ci"][1]
    # shuffled eps between the real eps: recount for one method
    sh = v["shuffled_eps_Gradient_final"]["value"]
    sm, sp = np.array(sh["minus"], float), np.array(sh["plus"], float)
    lo, hi = em_g[:len(sm)], np.array(v["eps_plus_Gradient"]["value"], float)[:len(sm)]
    known = (lo <= cap) & (hi <= cap) & (sm <= cap) & (sp <= cap)
    inside = known & (lo <= sm) & (sm <= hi) & (lo <= sp) & (sp <= hi)
    assert v["shuffled_eps_between_Gradient"]["value"] == pytest.approx(inside.sum() / known.sum(), rel=1e-5)


def test_roar_random_baseline_cells_are_the_saved_seed_differences_signed():
    v = results.read(results.results_path(ROAR))["values"]
    diff = {(d["variant"], d["mode"], d["estimator"]): d for d in v["fashion_mnist/differences_to_random"]["value"]}
    for est in derive.GRADIENT_BASED:
        assert v[f"fashion_mnist/random_baseline/roar/{est}"]["units"] == pytest.approx(diff["retrained", "roar", est]["per_seed"])
        assert v[f"fashion_mnist/random_baseline/kar/{est}"]["units"] == pytest.approx(
            [-x for x in diff["retrained", "kar", est]["per_seed"]])
        assert v[f"fashion_mnist/random_baseline/kar/{est}"]["interval"]["method"] == "t"


def test_alpha_without_random_is_alpha_of_the_real_methods_ranks():
    v = results.read(results.results_path(AUDIT))["values"]
    ranks = v["reliability.alpha[augmentation.ssim].ranks"]["value"]
    real = [m for m in ranks if m != "random"]
    table = np.column_stack([ranks[m] for m in real]).astype(float)
    direct = reliability.alpha(reliability.rank_methods(table, higher_is_better=False))
    e = v["reliability.alpha_without_random[augmentation.ssim]"]
    assert e["value"] == pytest.approx(direct, rel=1e-5) and sorted(e["methods"]) == sorted(real)
    with_random = v["reliability.alpha[augmentation.ssim]"]["value"]
    assert direct != pytest.approx(with_random)   # the random map does move alpha


def test_reopen_keeps_the_runs_versions_and_refuses_a_missing_file(tmp_path):
    res = results.Results.reopen(APEM)
    assert res.document()["versions"] == results.read(results.results_path(APEM))["versions"]
    with pytest.raises(FileNotFoundError, match="run the notebook"):
        results.Results.reopen(APEM, root=tmp_path)


def test_two_group_bootstrap_batched_equals_loop_and_needs_two_units_each():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 2)), rng.normal(size=(30, 2))
    b[:, 1] += b[:, 0]   # b correlated, a not
    fn = lambda r: abs(reliability.spearman_rows(r))  # noqa: E731
    loop = stats.two_group_bootstrap(a, b, fn, n_resamples=2000, seed=3)
    fast = stats.two_group_bootstrap(a, b, fn, batched=lambda r: np.abs(reliability.spearman_rows.batched(r)),
                                     n_resamples=2000, seed=3)
    assert (loop.low, loop.high) == pytest.approx((fast.low, fast.high))
    assert loop.high < 0 and loop.n == 70   # |rho| of a below b's, surely
    with pytest.raises(ValueError, match="at least 2"):
        stats.two_group_bootstrap(a[:1], b, fn)


def test_a_t_interval_over_identical_seeds_decides_nothing():
    ci = stats.t_interval([0.02, 0.02, 0.02])
    assert ci.low == ci.high
    v = stats.verdict(ci, "greater")
    assert v.verdict == "inconclusive" and "degenerate" in v.reason


def test_sanity_derived_values_match_the_saved_scores():
    v = results.read(results.results_path(SANITY))["values"]
    M = v["scores.MoRF_L=100"]["methods"]
    s = np.array(v["scores.MoRF_L=100"]["value"]["mean"])
    i = {m: M.index(m) for m in M}
    others = s[:, [i[m] for m in derive.SALIENCY]].mean(0)
    e = v["fig2a.morf.mean.deep_Taylor_minus_worst_other"]
    assert e["value"] == pytest.approx(s[:, i["deep Taylor"]].mean() - others.min(), abs=1e-5)
    # the random orderings' AOPC per image is the same whichever signed method it is recovered from
    base = {m: s[:, i[m]] - np.array(v[f"aopc_minus_random.morf.mean.{m}"]["units"]) for m in ("DeepSHAP", "gradient⊙input")}
    assert base["DeepSHAP"] == pytest.approx(base["gradient⊙input"], abs=1e-5)
    # an order entry names its five methods, so the permutation test knows k
    o = v["fig2a.morf_vs_lerf.mean.rank_agreement"]
    assert o["methods"] == M and o["value"] == pytest.approx(stats.spearman(
        s.mean(0), np.array(v["scores.LeRF_L=100"]["value"]["mean"]).mean(0)), abs=1e-6)
    # the frog split: two independent groups whose sizes add up to the draw
    f = v["class.frog_minus_rest.MoRF_L=100.mean.DeepSHAP"]
    frog = np.array(["/frog/" in u for u in v["scores.MoRF_L=100"]["unit_ids"]])
    assert f["n"] == len(frog) and f["value"] == pytest.approx(s[frog, i["DeepSHAP"]].mean() - s[~frog, i["DeepSHAP"]].mean(), abs=1e-5)


def test_augmentation_loss_beyond_noise_is_the_pair_loss_minus_the_images_floor():
    v = results.read(results.results_path(AUGMENT))["values"]
    m = "Saliency"
    floor = dict(zip(v[f"noise_floor/{m}"]["unit_ids"], v[f"noise_floor/{m}"]["units"]))
    ids, s = v[f"ssim_filters/{m}"]["unit_ids"], v[f"ssim_filters/{m}"]["units"]
    direct = np.mean([floor["/".join(u.split("/")[:2])] - x for u, x in zip(ids, s)])
    assert v[f"filters_loss_beyond_noise/{m}"]["value"] == pytest.approx(direct, abs=1e-5)
    # the noise share control saved the same two losses per pair: (noise loss, pair loss)
    share = np.array(v[f"noise_share/{m}"]["units"])
    e = v[f"augmentation_loss_beyond_noise/{m}"]
    assert e["value"] == pytest.approx((share[:, 1] - share[:, 0]).mean(), abs=1e-5)
    assert set(e["clusters"]) <= {u.split("/")[1] for u in e["unit_ids"]}   # images resampled whole
    assert "Deconvolution" not in {k.split("/")[1] for k in v if k.startswith("augmentation_loss_beyond_noise/")}


def test_sanity_inter_method_differences_are_differences_of_the_saved_levels():
    v = results.read(results.results_path(SANITY))["values"]
    named = claims.load(SANITY).row("inter_method_rho.F_lowest_MoRF_highest").measures
    assert len(named) == 120 and all(k in v for k in named)
    for k in named[:30]:   # one column: mean perturbation with edge detection
        hi, lo = k.split(".")[1].split("_minus_")
        p, edge = k.split(".")[2:]
        level = lambda m: v[f"inter_method_rho.{m}.{p}.{edge}"]["value"]  # noqa: E731
        assert v[k]["value"] == pytest.approx(level(hi) - level(lo), abs=2e-3), k
        assert v[k]["ci"][0] < v[k]["value"] < v[k]["ci"][1]


def test_sanity_perturbation_effects_match_the_saved_levels():
    v = results.read(results.results_path(SANITY))["values"]
    named = claims.load(SANITY).row("inter_method_rho.perturbation_affects_less_than_alpha").measures
    assert len(named) == 22 and all(k in v for k in named)
    for k in named:
        metric, edge = k.split(".")[2:]
        rho = [v[f"inter_method_rho.{metric}.{p}.{edge}"]["value"] for p in ("mean", "random")]
        alpha = [v[f"table1.alpha.{metric}.{p}.{edge}"]["value"] for p in ("mean", "random")]
        assert v[k]["value"] == pytest.approx(abs(rho[0] - rho[1]) - abs(alpha[0] - alpha[1]), abs=2e-3), k
