"""Statistics computed from a notebook's saved per-unit values, so that a new test of old measurements needs no
new measurement.

Each function here reads only what its notebook saved (`Results.values`: per-image eps, signs, score pairs) and
adds graded entries through `Results.compare`, as a notebook cell would. The notebook calls `derive.run(NB, res)`
before its closing comparison; `python -m xaikit.derive NOTEBOOK [--profile P]` applies the same function to a
saved results file (its entries then name the saved keys they were computed from in `derived_from`).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from . import apem, reliability, stats
from .results import Results


def _abs_rho_difference(rows: np.ndarray) -> float:
    """|Spearman(col 0, col 2)| - |Spearman(col 1, col 2)|: which of two scores follows a third more closely."""
    return abs(reliability.spearman_rows(rows[:, [0, 2]])) - abs(reliability.spearman_rows(rows[:, [1, 2]]))


def _abs_rho_difference_batched(rows: np.ndarray) -> np.ndarray:   # (B, n, 3) -> (B,)
    b = reliability.spearman_rows.batched
    return np.abs(b(rows[..., [0, 2]])) - np.abs(b(rows[..., [1, 2]]))


_abs_rho_difference.batched = _abs_rho_difference_batched


def _bounds(values, max_eps: int) -> np.ndarray:
    """A search's eps as [low, high] (censored: only eps > max_eps is known)."""
    e = np.asarray(values, dtype=float)
    return np.stack([e, np.where(e > max_eps, np.inf, e)], 1)


def apem_adversarial_perturbation(res: Results) -> list[str]:
    """04: the thesis' statements about eps, shuffled eps and the loss correlations, from the saved per-image
    eps (step 3, correct images), shuffled eps, step signs and (APEM, loss) pairs. Returns the keys added."""
    v, seed = res.values, res.seed
    cap = int(v["search_forward"]["params"]["max_eps"])
    methods = [k[len("apem_median_"):-len("_final")] for k in v if k.startswith("apem_median_") and k.endswith("_final")]
    ids = np.array(v["eps_minus_Gradient"]["unit_ids"])
    em = {m: np.asarray(v[f"eps_minus_{m}"]["value"], dtype=float) for m in methods}
    ep = {m: np.asarray(v[f"eps_plus_{m}"]["value"], dtype=float) for m in methods}
    B = {m: apem.apem_bounds(em[m], ep[m], cap) for m in methods}
    added = []

    def compare(name, ours, derived_from, **kw):
        context = {k: v[derived_from[0]][k] for k in ("source", "model") if k in v[derived_from[0]]}
        res.compare(name, ours, derived_from=derived_from, **context, **kw)
        added.append(name)

    # Fig. 4.4: how often Gradient scores below LRP (censor-aware; undecided images left out of n)
    s = apem.bound_sign(B["Gradient"], B["LRP"])
    und = apem.bound_undecided(B["Gradient"], B["LRP"])
    compare("gradient_below_lrp_fraction", stats.binomial_interval(int((s < 0).sum()), int((~und).sum())),
            ["eps_minus_Gradient", "eps_plus_Gradient", "eps_minus_LRP", "eps_plus_LRP"], kind="less",
            reference=0.1, claim="fraction of correct images where APEM(Gradient) < APEM(LRP), step 3",
            paper="rare", paper_where="section 4.3, Fig. 4.4", undecided_by_cap=int(und.sum()),
            ties=int(((s == 0) & ~und).sum()))
    # Fig. 4.3: Gradient has the lowest eps- and the highest eps+, image by image
    for other in (m for m in methods if m != "Gradient"):
        for which, a, b in (("minus", _bounds(em[other], cap), _bounds(em["Gradient"], cap)),
                            ("plus", _bounds(ep["Gradient"], cap), _bounds(ep[other], cap))):
            side = "below" if which == "minus" else "above"
            compare(f"eps_{which}_Gradient_{side}_{other}", apem.bound_sign(a, b),
                    [f"eps_{which}_Gradient", f"eps_{which}_{other}"], kind="greater", unit_ids=list(ids),
                    claim=f"eps{'-' if which == 'minus' else '+'}(Gradient) {side} eps of {other} "
                          "(mean per-image sign, censor-aware), step 3, correct images",
                    paper="Gradient: lowest eps-, highest eps+", paper_where="section 4.3, Fig. 4.3",
                    undecided_by_cap=int(apem.bound_undecided(a, b).sum()))
    # Fig. 4.7: every simplification step lowers Gradient's APEM (signs of APEM(step k) - APEM(step k + 1))
    for k1, k2 in ((1, 2), (2, 3)):
        key = f"steps_Gradient_{k1}_over_{k2}"
        sg = np.asarray(v[key]["units"], dtype=float)
        und_k = int(v[key].get("undecided_by_cap", 0))   # undecided images carry sign 0: left out of n
        compare(f"gradient_not_falling_step{k1}_to_{k2}", stats.binomial_interval(int((sg <= 0).sum()) - und_k,
                len(sg) - und_k), [key], kind="equal", reference=0.0, tol=0.01,
                claim=f"fraction of correct images whose Gradient APEM does not fall from step {k1} to {k2}",
                paper=0.0, paper_where="section 4.4, Fig. 4.7", undecided_by_cap=und_k, rises=int((sg < 0).sum()),
                ties=int((sg == 0).sum()) - und_k)
    # Fig. 4.7 d-i: from step (3) back to step (1) APEM rises, eps- falls and eps+ rises (saved since eps per step is)
    for m in methods:
        per_step = {"clamp": f"_{m}_clamp", "map": f"_{m}_map", "final": f"_{m}"}
        if not all(f"eps_minus{k}" in v for k in per_step.values()):
            continue
        for s1, s2 in (("clamp", "map"), ("map", "final")):
            k1, k2 = (apem.STEPS.index(s) + 1 for s in (s1, s2))
            for which, side in (("minus", "below"), ("plus", "above")):
                e1, e2 = (_bounds(v[f"eps_{which}{per_step[s]}"]["value"], cap) for s in (s1, s2))
                a, b = (e2, e1) if which == "minus" else (e1, e2)
                compare(f"eps_{which}_{m}_step{k1}_{side}_step{k2}", apem.bound_sign(a, b),
                        [f"eps_{which}{per_step[s1]}", f"eps_{which}{per_step[s2]}"], kind="greater", unit_ids=list(ids),
                        claim=f"eps{'-' if which == 'minus' else '+'} of {m} at step {k1} {side} step {k2} "
                              "(mean per-image sign, censor-aware), correct images",
                        paper="eps- falls and eps+ rises as APEM rises between steps",
                        paper_where="section 4.4, Fig. 4.7 d-i", undecided_by_cap=int(apem.bound_undecided(a, b).sum()))
    # Fig. 5.1: among images where LRP's relevance flips sooner than SmoothGrad's, its irrelevance goes both ways
    sel = apem.bound_sign(_bounds(em["SmoothGrad"], cap), _bounds(em["LRP"], cap)) > 0
    d = apem.bound_sign(_bounds(ep["LRP"], cap)[sel], _bounds(ep["SmoothGrad"], cap)[sel])
    for side, hit in (("above", d > 0), ("below", d < 0)):
        compare(f"lrp_eps_plus_{side}_smoothgrad_fraction", stats.binomial_interval(int(hit.sum()), len(d)),
                ["eps_minus_LRP", "eps_minus_SmoothGrad", "eps_plus_LRP", "eps_plus_SmoothGrad"], kind="greater",
                reference=0.1, claim=f"among correct images with eps-(LRP) < eps-(SmoothGrad): fraction with "
                                     f"eps+(LRP) {side} eps+(SmoothGrad), step 3",
                paper="considerable cases for both", paper_where="section 5.1, Fig. 5.1",
                ties_or_undecided=int((d == 0).sum()))
    # Section 5.2: shuffled eps lie between the real map's eps- and eps+ (images with no censored search)
    for m in methods:
        key = f"shuffled_eps_{m}_final"
        if key not in v:
            continue
        sm, sp = (np.asarray(v[key]["value"][w], dtype=float) for w in ("minus", "plus"))
        k = len(sm)
        lo, hi = em[m][:k], ep[m][:k]
        known = (lo <= cap) & (hi <= cap) & (sm <= cap) & (sp <= cap)
        inside = (lo <= sm) & (sm <= hi) & (lo <= sp) & (sp <= hi)
        if known.sum():
            compare(f"shuffled_eps_between_{m}", stats.binomial_interval(int((inside & known).sum()),
                    int(known.sum())), [key, f"eps_minus_{m}", f"eps_plus_{m}"], kind="equal", reference=1.0,
                    tol=0.05, claim=f"fraction of images with eps- <= eps-shuffle, eps+shuffle <= eps+, {m}, step 3",
                    paper=1.0, paper_where="section 5.2", censored_left_out=int((~known).sum()))
    # Table 5.1: the APEM_norm order among methods at step 3, paired by image
    norm = {m: dict(zip(v[f"apem_norm_{m}_final"]["unit_ids"], v[f"apem_norm_{m}_final"]["units"]))
            for m in methods if f"apem_norm_{m}_final" in v}
    for a, b in (("Gradient", "LRP"), ("LRP", "SmoothGrad")):
        if a in norm and b in norm:
            both = [i for i in norm[a] if i in norm[b]]
            compare(f"apem_norm_order_{a}_over_{b}", np.sign([norm[a][i] - norm[b][i] for i in both]),
                    [f"apem_norm_{a}_final", f"apem_norm_{b}_final"], kind="greater", unit_ids=both,
                    claim=f"APEM_norm({a}) > APEM_norm({b}) (mean per-image sign), step 3",
                    paper="Gradient > LRP > SmoothGrad in every column", paper_where="Table 5.1")
    # Table 5.3: correct images correlate more strongly with the loss than misclassified ones (each set resampled)
    for m in methods:
        c, w = (np.asarray(v[f"spearman_loss_{m}_{p}"]["units"], dtype=float) for p in ("correct", "misclassified"))
        ci = stats.two_group_bootstrap(c, w, lambda r: abs(reliability.spearman_rows(r)),
                                       batched=lambda r: np.abs(reliability.spearman_rows.batched(r)), seed=seed)
        compare(f"abs_rho_correct_minus_misclassified_{m}", ci,
                [f"spearman_loss_{m}_correct", f"spearman_loss_{m}_misclassified"], kind="greater",
                claim=f"|Spearman(APEM {m}, loss)| correct minus misclassified images", paper_where="Table 5.3",
                paper="0.83 vs 0.07, 0.47 vs 0.03, 0.60 vs 0.00 (Gradient, SmoothGrad, LRP)")
    # Table 5.3: the method with the higher APEM correlates more strongly (paired over the same correct images)
    for a, b in (("Gradient", "LRP"), ("LRP", "SmoothGrad")):
        ua, ub = (np.asarray(v[f"spearman_loss_{m}_correct"]["units"], dtype=float) for m in (a, b))
        rows = np.column_stack([ua[:, 0], ub[:, 0], ua[:, 1]])
        compare(f"abs_rho_{a}_minus_{b}_correct", stats.bootstrap(rows, _abs_rho_difference, method="percentile",
                seed=seed), [f"spearman_loss_{a}_correct", f"spearman_loss_{b}_correct"], kind="greater",
                claim=f"|Spearman(APEM, loss)| of {a} minus {b}, correct images (paired)", paper_where="Table 5.3",
                paper="Gradient -0.827, LRP -0.602, SmoothGrad -0.470 (APEM 127.79 > 66.07 > 44.38)")
    return added


def dont_augment_me(res: Results, constant: str = "Deconvolution") -> list[str]:
    """01: what the augmentation itself costs each method's map beyond its own noise floor (and, for rotations,
    beyond the interpolation floor), and Guided Grad-CAM's spread of SSIM against every other method's, from the
    saved per-pair SSIM, per-image noise floors and per-pair interpolation losses (bootstraps resample images).
    `constant`: the method whose map does not depend on the input here, left out (its SSIM is fixed)."""
    v, seed, added = res.values, res.seed, []
    methods = sorted({k.split("/", 1)[1] for k in v if k.startswith(("ssim_rotations/", "ssim_filters/"))} - {constant})
    image = lambda uid: uid.split("/")[1]  # noqa: E731  (unit ids are model/image/augmentation)

    def pairs(kind, m):   # the kept pairs of one kind (none where a profile keeps none)
        e = v.get(f"ssim_{kind}/{m}")
        return (list(e["unit_ids"]), np.asarray(e["units"], dtype=float)) if e else ([], np.empty(0))

    for m in methods:
        nf_key = f"noise_floor/{m}"
        floor = dict(zip(v[nf_key]["unit_ids"], v[nf_key]["units"])) if nf_key in v else None
        noise = (lambda uid: 1 - floor["/".join(uid.split("/")[:2])]) if floor else (lambda uid: 0.0)
        why = {} if floor else {"noise_floor": "none: the method is deterministic, its noise loss is 0"}
        src = [f"ssim_rotations/{m}", f"ssim_filters/{m}"] + ([nf_key] if floor else [])
        for kind, name, claim in (("both", f"augmentation_loss_beyond_noise/{m}", "rotation and filter pairs"),
                                  ("filters", f"filters_loss_beyond_noise/{m}", "filter pairs")):
            ids, s = pairs("filters", m)
            if kind == "both":
                r_ids, r = pairs("rotations", m)
                ids, s = r_ids + ids, np.concatenate([r, s])
            d = np.array([1 - x - noise(u) for u, x in zip(ids, s)])
            if len(d) < 2:
                continue
            res.compare(name, d, kind="greater", clusters=[image(u) for u in ids], unit_ids=ids, unit="pair",
                        derived_from=src, **why, paper="augmentations change the maps (mean SSIM below 1)",
                        paper_where="Fig. 2, Fig. 4", claim=f"{m}: SSIM lost on kept {claim} (1 - SSIM) minus the "
                                                            "image's noise-floor loss, mean over pairs")
            added.append(name)
        ik = f"interpolation_share/{m}"
        if ik in v and len(pairs("rotations", m)[0]) >= 2:
            interp = dict(zip(v[ik]["unit_ids"], np.asarray(v[ik]["units"], dtype=float)[:, 0]))
            ids, s = pairs("rotations", m)
            d = np.array([1 - x - noise(u) - interp[u] for u, x in zip(ids, s)])
            name = f"rotations_loss_beyond_noise_and_interpolation/{m}"
            res.compare(name, d, kind="greater", clusters=[image(u) for u in ids], unit_ids=ids, unit="pair",
                        derived_from=src[:1] + [ik] + src[2:], **why, paper="rotations change the maps",
                        paper_where="Fig. 5", claim=f"{m}: SSIM lost on kept rotation pairs minus the noise-floor "
                                                    "and interpolation-floor losses of the same pair, mean over pairs")
            added.append(name)
    ggc = "Guided Grad-CAM"
    if ggc in methods:
        r_ids, r = pairs("rotations", ggc)
        f_ids, f = pairs("filters", ggc)
        g = dict(zip(r_ids + f_ids, np.concatenate([r, f])))
        for m in (m for m in methods if m != ggc):
            r_ids, r = pairs("rotations", m)
            f_ids, f = pairs("filters", m)
            ids = [u for u in r_ids + f_ids if u in g]
            if len(ids) < 3:
                continue
            other = dict(zip(r_ids + f_ids, np.concatenate([r, f])))
            rows = np.array([[g[u], other[u]] for u in ids])
            name = f"ssim_std_difference/{ggc} - {m}"
            res.compare(name, stats.bootstrap(rows, lambda a: float(a[:, 0].std(ddof=1) - a[:, 1].std(ddof=1)),
                        clusters=[image(u) for u in ids], seed=seed, unit="pair"), kind="less", unit_ids=ids,
                        derived_from=[f"ssim_rotations/{ggc}", f"ssim_filters/{ggc}", f"ssim_rotations/{m}",
                                      f"ssim_filters/{m}"], clusters=[image(u) for u in ids],
                        paper="Guided Grad-CAM: the lowest standard deviation", paper_where="Fig. 2",
                        claim=f"SD of SSIM over the kept pairs, {ggc} minus {m} (same pairs, images resampled)")
            added.append(name)
    return added


SALIENCY = ("sensitivity", "gradient⊙input", "DeepSHAP")   # 02: the saliency methods besides deep Taylor


def _rho_difference(k: int):
    """mean pairwise Spearman of the first k columns minus that of the last k (with a batched twin)."""
    def fn(a):
        return reliability.mean_pairwise_spearman(a[:, :k]) - reliability.mean_pairwise_spearman(a[:, k:])
    fn.batched = lambda s: (reliability.mean_pairwise_spearman.batched(s[..., :k])
                            - reliability.mean_pairwise_spearman.batched(s[..., k:]))
    return fn


def _modal_rank_share(ranks: np.ndarray) -> np.ndarray:
    """Per column (method): the share of rows (images) on which it takes its most frequent rank."""
    return np.array([np.unique(c, return_counts=True)[1].max() / len(c) for c in ranks.T])


def sanity_checks_for_saliency_metrics(res: Results) -> list[str]:
    """02: Fig. 2a's statements about deep Taylor, edge detection and the MoRF/LeRF orders, the confidence split,
    the two perturbations, Table 1's largest cell, edge detection's consistent ranks and the class dependence,
    from the saved per-image scores (L = 100) and F."""
    v, seed, added = res.values, res.seed, []
    L = max(int(k.split("=")[1]) for k in v if k.startswith("scores.MoRF_L="))   # 100; smaller profiles stop sooner
    top = f"scores.MoRF_L={L}"
    M, ids, perts = list(v[top]["methods"]), list(v[top]["unit_ids"]), list(v[top]["value"])
    I = {m: i for i, m in enumerate(M)}
    S = {(o, p): np.asarray(v[f"scores.{o}_L={L}"]["value"][p], dtype=float) for o in ("MoRF", "LeRF") for p in perts}
    oth, dt, ed = [I[m] for m in SALIENCY], I["deep Taylor"], I["edge detection"]

    def compare(name, ours, derived_from, **kw):
        ctx = {k: v[derived_from[0]][k] for k in ("source", "model") if k in v[derived_from[0]]}
        res.compare(name, ours, derived_from=derived_from, **ctx, **kw)
        added.append(name)

    def boot(a, fn):
        return stats.bootstrap(a, fn, seed=seed)

    for p in perts:
        src = [f"scores.MoRF_L={L}", f"scores.LeRF_L={L}"]
        # deep Taylor poor under MoRF: its mean below the worst of the other saliency methods
        compare(f"fig2a.morf.{p}.deep_Taylor_minus_worst_other", boot(S["MoRF", p], lambda a: float(
                a[:, dt].mean() - a[:, oth].mean(0).min())), src[:1], kind="less",
                claim=f"MoRF L={L}, {p} perturbation: deep Taylor's mean AOPC minus the lowest of sensitivity, "
                      "gradient⊙input and DeepSHAP < 0", paper="deep Taylor performs poorly under MoRF",
                paper_where="Fig. 2a", unit_ids=ids)
        # LeRF (lower = better): edge detection and deep Taylor each below the best of the other three
        for j, who in ((ed, "edge_detection"), (dt, "deep_Taylor")):
            compare(f"fig2a.lerf.{p}.best_other_minus_{who}", boot(S["LeRF", p], lambda a, j=j: float(
                    a[:, oth].mean(0).min() - a[:, j].mean())), src[1:], kind="greater", unit_ids=ids,
                    claim=f"LeRF L={L}, {p} perturbation: the lowest mean AOPC of sensitivity, gradient⊙input and "
                          f"DeepSHAP minus {who.replace('_', ' ')}'s > 0 (it is better)",
                    paper="edge detection and deep Taylor obtain the best LeRF scores", paper_where="Fig. 2a")
        # MoRF against LeRF: agreement of the raw means = opposite fidelity rankings
        ci, test = stats.rank_agreement(S["MoRF", p], S["LeRF", p].mean(0), seed=seed)
        compare(f"fig2a.morf_vs_lerf.{p}.rank_agreement", ci, src, kind="greater", methods=M, p_exact=test.p_value,
                exact=test.exact, unit_ids=ids, paper="opposite orders", paper_where="Fig. 2a",
                claim=f"{p} perturbation: Spearman of the 5 mean AOPC_MoRF with the 5 mean AOPC_LeRF (raw; > 0 = "
                      "the rankings are opposite)")
    if len(perts) == 2:
        a, b = perts
        ci, test = stats.rank_agreement(S["LeRF", a], S["LeRF", b].mean(0), seed=seed)
        compare("fig2a.lerf.order_across_perturbations", ci, [f"scores.LeRF_L={L}"], kind="greater", methods=M,
                p_exact=test.p_value, exact=test.exact, unit_ids=ids, paper="ranked consistently",
                paper_where="Fig. 2a", claim=f"LeRF L={L}: Spearman of the 5 mean AOPC under {a} with those under {b}")
        # random RGB removes edges better: deep Taylor's and edge detection's MoRF above random orderings rise
        base = {}
        for p in perts:   # the random orderings' AOPC per image: a signed method's score minus its saved difference
            k = f"aopc_minus_random.morf.{p}.DeepSHAP"
            if v[k].get("L") != L:
                raise ValueError(f"{k} is at L = {v[k].get('L')}, the scores at L = {L}")
            base[p] = S["MoRF", p][:, I["DeepSHAP"]] - np.asarray(v[k]["units"], dtype=float)
        for j, who in ((dt, "deep Taylor"), (ed, "edge detection")):
            d = (S["MoRF", b][:, j] - base[b]) - (S["MoRF", a][:, j] - base[a])
            compare(f"fig2a.morf.{b}_minus_{a}.above_random.{who.replace(' ', '_')}", d,
                    [top, f"aopc_minus_random.morf.{a}.DeepSHAP", f"aopc_minus_random.morf.{b}.DeepSHAP"],
                    kind="greater", unit_ids=ids, paper="better with random RGB than with mean perturbation",
                    paper_where="Fig. 2a", claim=f"MoRF L={L}, {who}: (AOPC minus random orderings') with {b} "
                                                 f"minus with {a} perturbation, per image")
    # the confidence split: signed methods on unconfident images against confident ones (LeRF minus random)
    for p in perts:
        for m in ("DeepSHAP", "gradient⊙input"):
            low_k, all_k = f"lerf_minus_random.low_confidence.{p}.{m}", f"aopc_minus_random.lerf.{p}.{m}"
            if low_k not in v or all_k not in v:
                continue
            low = set(v[low_k]["unit_ids"])
            d = np.asarray(v[all_k]["units"], dtype=float)
            is_low = np.array([i in low for i in v[all_k]["unit_ids"]])
            if is_low.sum() < 2 or (~is_low).sum() < 2:
                continue
            compare(f"lerf_minus_random.low_minus_confident.{p}.{m}", stats.two_group_bootstrap(
                    d[is_low], d[~is_low], np.mean, batched=lambda r: r.mean(1), seed=seed), [all_k, low_k],
                    kind="less", paper="better than random only when unconfident", paper_where="Discussion",
                    claim=f"LeRF L={L}, {p} perturbation, {m}: mean (AOPC minus random) on images with confidence "
                          "<= 0.8 minus on the others")
    # Table 1: the largest alpha (MoRF L=100, mean, with edge detection) against the next cell of its column
    if L == 100 and "scores.MoRF_L=80" in v and "mean" in perts:
        r100 = reliability.rank_methods(S["MoRF", "mean"])
        r80 = reliability.rank_methods(np.asarray(v["scores.MoRF_L=80"]["value"]["mean"], dtype=float))
        d = reliability.bootstrap_alpha_difference(r100, r80, seed=seed)
        compare("table1.alpha.MoRF_L=100_minus_L=80.mean.with_edge", d["ci"], [top, "scores.MoRF_L=80"],
                kind="greater", unit_ids=ids, paper="0.48, the largest value in the table", paper_where="Table 1",
                claim="Krippendorff's alpha, MoRF L=100 minus MoRF L=80, mean perturbation, with edge detection")
    # per-image F per method (images where every method's F is defined)
    F = {}
    for p in perts:
        per = {m: dict(zip(v[f"faithfulness.{p}.{m}.abs_mean_below_0.1"]["unit_ids"],
                           v[f"faithfulness.{p}.{m}.abs_mean_below_0.1"]["F_per_image"])) for m in M}
        keep = [i for i in ids if all(i in per[m] for m in M)]
        F[p] = (np.array([[per[m][i] for m in M] for i in keep]), keep)
    # Fig. 2b: the perturbation moves each method's mean F (by at least 0.02 either way), paired by image
    if len(perts) == 2:
        a, b = perts
        for j, m in enumerate(M):
            fa, fb = (dict(zip(F[p][1], F[p][0][:, j])) for p in (a, b))
            both = [i for i in fa if i in fb]
            d = np.array([fb[i] - fa[i] for i in both])
            compare(f"fig2b.F.{b}_minus_{a}.abs_mean.{m}", stats.bootstrap(d, lambda x: float(abs(x.mean())),
                    seed=seed), [f"faithfulness.{p}.{m}.abs_mean_below_0.1" for p in perts], kind="greater",
                    reference=0.02, unit_ids=both, mean_difference=float(d.mean()),
                    paper="the perturbation changes the mean values", paper_where="Fig. 2b",
                    claim=f"|mean F with {b} minus with {a} perturbation|, {m}, paired by image")
    # inter-method reliability: F lowest and MoRF highest, paired differences of mean pairwise rho per column
    Ls = sorted(int(k.split("=")[1]) for k in v if k.startswith("scores.LeRF_L="))
    if "scores.MoRF_L=80" in v and len(perts) == 2:
        table = {(o, L_, p): np.asarray(v[f"scores.{o}_L={L_}"]["value"][p], dtype=float)
                 for o in ("MoRF", "LeRF") for L_ in Ls for p in perts}
        pos = {i: n for n, i in enumerate(ids)}
        for p in perts:
            for edge, cols in (("with_edge", list(range(len(M)))), ("without_edge", [I[m] for m in M if m != "edge detection"])):
                k = len(cols)
                fn = _rho_difference(k)
                rows_f = [pos[i] for i in F[p][1]]
                pairs = [(f"LeRF_L={b}", "F", table["LeRF", b, p][rows_f], F[p][0]) for b in Ls]
                pairs += [(f"MoRF_L={a}", f"LeRF_L={b}", table["MoRF", a, p], table["LeRF", b, p]) for a in Ls for b in Ls]
                for hi, lo, x, y in pairs:
                    rows = np.concatenate([x[:, cols], y[:, cols]], 1)
                    name = f"inter_method_rho.{hi}_minus_{lo}.{p}.{edge}"
                    compare(name, stats.bootstrap(rows, fn, method="percentile", seed=seed),
                            [f"scores.{hi}"], kind="greater", methods=[M[c] for c in cols],
                            paper="F lowest and MoRF highest", paper_where="Results, text after Table 1",
                            claim=f"mean pairwise Spearman between methods, {hi} minus {lo}, {p} perturbation, {edge.replace('_', ' ')}")
    # inter-method rho moves less with the perturbation than alpha does (same resampled images for all four)
    if "scores.MoRF_L=80" in v and len(perts) == 2:
        a, b = perts
        both = [i for i in F[a][1] if i in set(F[b][1])]
        fa, fb = (np.array([dict(zip(F[p][1], F[p][0]))[i] for i in both]) for p in (a, b))
        metrics = [("F", fa, fb, True)] + [(f"{o}_L={L_}", table[o, L_, a], table[o, L_, b], o == "MoRF")
                                             for o in ("MoRF", "LeRF") for L_ in Ls]
        for metric, ta, tb, higher in metrics:
            for edge, cols in (("with_edge", list(range(len(M)))), ("without_edge", [I[m] for m in M if m != "edge detection"])):
                compare(f"perturbation_effect.rho_minus_alpha.{metric}.{edge}", reliability.perturbation_effects(
                        ta[:, cols], tb[:, cols], higher, seed=seed), [f"scores.{metric}" if metric != "F" else
                        f"faithfulness.{a}.DeepSHAP.abs_mean_below_0.1"], kind="less", methods=[M[c] for c in cols],
                        paper="perturbation moves rho much less than alpha", paper_where="Results, text after Table 1",
                        claim=f"{metric}, {edge.replace('_', ' ')}: |rho({a}) - rho({b})| - |alpha({a}) - alpha({b})|")
    # edge detection ranked more consistently: its modal-rank share minus the highest of the saliency methods'
    for p in perts:
        for metric, (table, rows), higher in ((f"MoRF_L={L}", (S["MoRF", p], ids), True),
                                              (f"LeRF_L={L}", (S["LeRF", p], ids), False), ("F", F[p], True)):
            ranks = reliability.rank_methods(table, higher)
            compare(f"table1.modal_rank_share.{metric}.{p}.edge_minus_best_other", stats.bootstrap(
                    ranks, lambda r: float(_modal_rank_share(r)[ed] - np.delete(_modal_rank_share(r), ed).max()),
                    method="percentile", seed=seed),
                    [f"scores.{metric}" if metric != "F" else f"faithfulness.{p}.edge detection.abs_mean_below_0.1"],
                    kind="greater", unit_ids=list(rows), paper="edge detection ranked more consistently",
                    paper_where="Table 1 (Results)", claim=f"{metric}, {p} perturbation: share of images on which "
                    "edge detection takes its most frequent rank minus the highest such share of the other methods")
    # class dependence: frog images against the rest, mean perturbation (MoRF, LeRF higher; F higher)
    if "mean" in perts:
        for metric, (table, rows) in ((f"MoRF_L={L}", (S["MoRF", "mean"], ids)), (f"LeRF_L={L}", (S["LeRF", "mean"], ids)),
                                      ("F", F["mean"])):
            frog = np.array([i.split("/")[1] == "frog" for i in rows])
            if frog.sum() < 2:
                continue
            for m in M:
                col = table[:, I[m]]
                compare(f"class.frog_minus_rest.{metric}.mean.{m}", stats.two_group_bootstrap(
                        col[frog], col[~frog], np.mean, batched=lambda r: r.mean(1), seed=seed),
                        [f"scores.{metric}" if metric != "F" else f"faithfulness.mean.{m}.abs_mean_below_0.1"],
                        kind="greater", paper="frog: better MoRF, worse LeRF, better F", paper_where="Discussion",
                        claim=f"{metric}, mean perturbation, {m}: mean on frog images minus on the other classes")
    return added


GRADIENT_BASED = ("gradient", "integrated_gradients", "guided_backprop", "smoothgrad_sq", "vargrad")


def roar_remove_and_retrain(res: Results) -> list[str]:
    """03: the random baseline against every gradient-based estimator (ROAR and KAR), Sobel deleted without
    retraining, and the mask-leak control, from the saved per-seed differences and accuracies (t intervals over
    seeds, as the notebook's other rows)."""
    v, added = res.values, []
    for name in sorted(k.split("/")[0] for k in v if k.endswith("/differences_to_random")):
        key = f"{name}/differences_to_random"
        ctx = {k: v[key][k] for k in ("source", "model") if k in v[key]}
        diff = {(d["variant"], d["mode"], d["estimator"]): d for d in v[key]["value"]}

        def compare(entry, values, seeds, derived_from, **kw):
            res.compare(entry, stats.t_interval(values, unit="seed"), units=list(values), unit_ids=list(seeds),
                        derived_from=derived_from, **ctx, **kw)
            added.append(entry)

        # §4.4 step 4: random is worse than every gradient-based estimator: ROAR below it, KAR above it
        for est in GRADIENT_BASED:
            for mode in ("roar", "kar"):
                d = diff.get(("retrained", mode, est))
                if d is None:
                    continue
                sign = 1 if mode == "roar" else -1   # both cells claimed < 0: ROAR est - random, KAR random - est
                what = "accuracy minus random's" if mode == "roar" else "random's accuracy minus the estimator's"
                compare(f"{name}/random_baseline/{mode}/{est}", [sign * x for x in d["per_seed"]], d["seeds"], [key],
                        kind="less", claim=f"{mode.upper()} retrained, {est}: {what} (same seed and fraction, mean "
                                           "over fractions) < 0, random the worse", paper="random performs worse",
                        paper_where="Loreth 2023 §4.4 step 4")
        # §4.3: deleting the edges first (Sobel ranking) without retraining falls below random
        d = diff.get(("not_retrained", "roar", "sobel"))
        if d is not None:
            compare(f"{name}/sobel_not_retrained_minus_random", d["per_seed"], d["seeds"], [key], kind="less",
                    claim="ROAR without retraining, Sobel ranking: accuracy minus random's (mean over fractions) < 0",
                    paper="steep decrease when edges are deleted", paper_where="Loreth 2023 §4.3 (Samek et al. 2017)")
        # control: a model retrained on the ROAR-90% images beats one trained on the removal masks alone
        leak = f"{name}/mask_leak"
        if leak in v:
            rows = [r for r in v[leak]["value"] if "mask_only_accuracy" in r]
            for est in GRADIENT_BASED:
                mine = sorted((r for r in rows if r["estimator"] == est), key=lambda r: r["seed"])
                if len(mine) >= 2:
                    compare(f"{name}/retrained_minus_mask_only/{est}",
                            [r["retrained_accuracy"] - r["mask_only_accuracy"] for r in mine],
                            [r["seed"] for r in mine], [leak], kind="greater", reference=0.0, tol=0.02,
                            claim=f"ROAR-90% retrained accuracy minus mask-only accuracy, {est}, same seed > 0",
                            paper_where="kit control (mask leak)")
    return added


def audit_your_model(res: Results, random: str = "random") -> list[str]:
    """06: each metric's alpha with the random map left out of the rankings (re-ranked from the saved ranks), and
    each method's per-image SSIM minus the random map's, paired by image."""
    from . import claims
    v, added = res.values, []
    graded = claims.load(res.notebook).by_measure() if claims.has_registry(res.notebook) else {}
    for key in sorted(k for k in v if k.startswith("reliability.alpha[") and k.endswith("].ranks")):
        ranks = v[key]["value"]
        if random not in ranks:
            continue
        real = [m for m in ranks if m != random]
        table = np.column_stack([np.asarray(ranks[m], dtype=float) for m in real])
        b = reliability.bootstrap_alpha(reliability.rank_methods(table, higher_is_better=False), seed=res.seed)
        metric = key[len("reliability.alpha["):-len("].ranks")]
        name = f"reliability.alpha_without_random[{metric}]"
        claim = f"Krippendorff's alpha (ordinal) of {metric}, the {len(real)} real methods ranked without the random map"
        if name in graded:
            res.compare(name, b["ci"], kind="greater", reference=0.667, derived_from=[key], methods=real,
                        unit_ids=v[key].get("unit_ids"), undefined_resamples=b["undefined"], claim=claim,
                        paper_where="Tomsett et al. 2020, local saliency metric reliability")
            added.append(name)
        else:   # recorded beside the graded one (the registry grades the metric whose alpha matters)
            res.add(name, b["ci"].as_dict(), derived_from=[key], methods=real, claim=claim)
    base = f"augmentation.ssim.{random}.per_image"
    if base in v:
        ref = dict(zip(v[base]["unit_ids"], v[base]["value"]))
        for key in sorted(k for k in v if k.startswith("augmentation.ssim.") and k.endswith(".per_image") and k != base):
            m = key[len("augmentation.ssim."):-len(".per_image")]
            ids = [i for i in v[key]["unit_ids"] if i in ref]
            mine = dict(zip(v[key]["unit_ids"], v[key]["value"]))
            name = f"augmentation.ssim_minus_random.{m}"
            res.compare(name, [mine[i] - ref[i] for i in ids], kind="greater", unit_ids=ids,
                        derived_from=[key, base],
                        claim=f"mean SSIM over the kept pairs, {m} minus the random map, paired by image")
            added.append(name)
    return added


FUNCTIONS = {"01_dont_augment_me": dont_augment_me,
             "02_sanity_checks_for_saliency_metrics": sanity_checks_for_saliency_metrics,
             "03_roar_remove_and_retrain": roar_remove_and_retrain,
             "06_audit_your_model": audit_your_model,
             "04_apem_adversarial_perturbation": apem_adversarial_perturbation}


def run(notebook: str, res: Results) -> list[str]:
    """Add the derived entries of `notebook` to `res` (nothing for a notebook without derived statistics)."""
    fn = FUNCTIONS.get(notebook)
    return fn(res) if fn else []


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m xaikit.derive", description=__doc__.splitlines()[0])
    p.add_argument("notebooks", nargs="*", default=sorted(FUNCTIONS))
    p.add_argument("--profile", action="append", help="smoke, lecture, standard (repeatable; default all three)")
    a = p.parse_args(argv)
    for nb in a.notebooks:
        if nb not in FUNCTIONS:
            p.error(f"no derived statistics for {nb!r}; known: {', '.join(sorted(FUNCTIONS))}")
        for profile in a.profile or ["smoke", "lecture", "standard"]:
            try:
                res = Results.reopen(nb, profile)
            except FileNotFoundError as e:
                print(f"{nb} ({profile}): skipped, {e}")
                continue
            added = run(nb, res)
            print(f"{nb} ({profile}): {len(added)} derived entries -> {res.save()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
