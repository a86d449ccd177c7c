"""XRAI and PIC: xaikit against PAIR's own implementation (PyPI `saliency` 0.2.1), same inputs, same machine.

    .venv/bin/python benchmarks/bench_xrai_pic.py [--n-images 8] [--n-pic 2] [--repeats 3] [--start 0]
                                                  [--device auto] [--out FILE.json]

XRAI: the full algorithm (segmentation at 6 scales, dilation, greedy regions), base attribution excluded: both
get the same attribution (the plain gradient of EfficientNet-Lite0, computed once). Per image, one thread:
PAIR's XRAI, xaikit's `xrai.explain` (compiled Felzenszwalb, the default) and xaikit with
scikit-image's Felzenszwalb (`engine="skimage"`, to show where the time goes); then all images at once with
`segments_many` in threads. Checks that the region order is identical. One untimed warm-up call of each comes
first (xaikit's first call in a process loads or compiles the numba kernel; its time is reported).
Each XRAI timing is the median of --repeats alternating runs.
PIC: on the first --n-pic images, one saliency map (our XRAI heat map); PAIR's compute_pic_metric gives one
curve per call (SIC with a softmax pred_func, AIC with a correct/incorrect one), so it is called twice;
xaikit's pic_image gives SIC and AIC from the same bokeh images in one call. Checks the areas agree. PAIR and xaikit are timed alternately on each image, so a busy machine slows both alike; the load
average before and after is recorded.
With a GPU (--device cuda) it also times xaikit's XRAI for all images at once including IG (black + white).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

np.trapz = getattr(np, "trapz", np.trapezoid)   # PAIR's PIC code calls np.trapz, removed in NumPy 2.4


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-images", type=int, default=8, help="images for the XRAI timing")
    ap.add_argument("--n-pic", type=int, default=2, help="of those, images for the PIC timing (PAIR's is slow)")
    ap.add_argument("--repeats", type=int, default=3, help="XRAI timings per image (the median is kept)")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = ap.parse_args(argv)

    from saliency.core.xrai import XRAI, XRAIParameters
    from saliency.metrics.pic import compute_pic_metric

    from xaikit import attribution, data, models, pic, results, runtime, xrai

    dev = runtime.device(args.device)
    load_before = os.getloadavg()
    model = models.load_model("efficientnet_lite0", dev)
    d = data.load_imagenet_sample(args.n_images, start=args.start)
    grads = attribution.attribute(model, d.images, None, method="gradient", batch_size=4).cpu()
    p = XRAIParameters()
    p.return_xrai_segments = True

    def pair_xrai(i):
        return XRAI().GetMaskWithDetails(d.images[i].permute(1, 2, 0).double().numpy(), None,
                                         base_attribution=grads[i].permute(1, 2, 0).double().numpy(),
                                         extra_parameters=p)

    _, t_first = _timed(lambda: xrai.explain(d.images[0], grads[0]))       # warm-up: numba kernel load/compile
    xrai.explain(d.images[0], grads[0], engine="skimage")
    pair_xrai(0)
    rows = []
    for i in range(len(d)):
        # median of --repeats alternating runs: one stray pause does not decide a row
        t_pair, t_ours, t_sk = [], [], []
        for _ in range(args.repeats):
            ref, t = _timed(lambda: pair_xrai(i))
            t_pair.append(t)
            ours, t = _timed(lambda: xrai.explain(d.images[i], grads[i]))
            t_ours.append(t)
            ours_sk, t = _timed(lambda: xrai.explain(d.images[i], grads[i], engine="skimage"))
            t_sk.append(t)
        t_pair, t_ours, t_sk = (float(np.median(t)) for t in (t_pair, t_ours, t_sk))
        same = bool((ours.ranks == ref.segments).all() and (ours_sk.ranks == ref.segments).all())
        row = dict(image=d.names[i], xrai_same_order=same, xrai_pair_s=t_pair, xrai_ours_s=t_ours,
                   xrai_ours_skimage_felzenszwalb_s=t_sk, xrai_speedup=t_pair / t_ours)
        if i < args.n_pic:
            row.update(_pic(model, d.images[i], ours.heatmap, i, pic, compute_pic_metric))
        rows.append(row)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

    # All images at once: segmentation in threads, then the greedy regions.
    def batch():
        masks = xrai.segments_many(list(d.images))
        return [xrai.explain(x, g, m) for x, g, m in zip(d.images, grads, masks)]
    res, t_batch = _timed(batch)
    batch_same = all((r.ranks == o.ranks).all() for r, o in zip(res, [xrai.explain(x, g) for x, g in
                                                                      zip(d.images, grads)]))

    mean = lambda k, rs=rows: float(np.mean([r[k] for r in rs]))  # noqa: E731
    pic_rows = [r for r in rows if "pic_ours_sic_aic_s" in r]
    summary = dict(
        hardware=runtime.versions() | dict(hardware=runtime.hardware(), cpu_cores=os.cpu_count(),
                                           load_average_before=load_before, load_average_after=os.getloadavg()),
        data=d.source, n_images=len(d), n_pic_images=len(pic_rows),
        xrai_first_call_s=t_first,
        xrai_pair_s_mean=mean("xrai_pair_s"),
        xrai_ours_s_mean=mean("xrai_ours_s"),
        xrai_ours_skimage_felzenszwalb_s_mean=mean("xrai_ours_skimage_felzenszwalb_s"),
        xrai_ours_batched_threads=min(runtime.cpu_cores(), len(d)),
        xrai_ours_batched_s_per_image=t_batch / len(d),
        xrai_all_same_order=all(r["xrai_same_order"] for r in rows) and batch_same,
        xrai_min_speedup=min(r["xrai_speedup"] for r in rows),
    )
    summary["xrai_speedup"] = summary["xrai_pair_s_mean"] / summary["xrai_ours_s_mean"]
    summary["xrai_speedup_skimage_felzenszwalb"] = \
        summary["xrai_pair_s_mean"] / summary["xrai_ours_skimage_felzenszwalb_s_mean"]
    summary["xrai_speedup_batched"] = summary["xrai_pair_s_mean"] / summary["xrai_ours_batched_s_per_image"]
    if pic_rows:
        summary["pic_pair_sic_s_mean"] = mean("pic_pair_sic_s", pic_rows)
        summary["pic_pair_aic_s_mean"] = mean("pic_pair_aic_s", pic_rows)
        summary["pic_ours_sic_aic_s_mean"] = mean("pic_ours_sic_aic_s", pic_rows)
        summary["pic_speedup_sic"] = summary["pic_pair_sic_s_mean"] / summary["pic_ours_sic_aic_s_mean"]
        summary["pic_speedup_sic_aic"] = (summary["pic_pair_sic_s_mean"] + summary["pic_pair_aic_s_mean"]) \
            / summary["pic_ours_sic_aic_s_mean"]
        summary["pic_same_areas"] = all(
            r[f"pic_{k}_auc_pair"] is None or abs(r[f"pic_{k}_auc_pair"] - r[f"pic_{k}_auc_ours"]) < 1e-6
            for r in pic_rows for k in ("sic", "aic"))
    if dev.type == "cuda":
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        xrai.xrai(model, d.images, None, n_steps=100, batch_size=len(d))
        torch.cuda.synchronize()
        summary["gpu_xrai_with_ig100_all_images_s"] = time.perf_counter() - t0
    print(json.dumps(summary, indent=1))
    if args.out:
        results.write_json(dict(summary=summary, rows=rows), Path(args.out))


def _pic(model, x, heatmap, i, pic, compute_pic_metric):
    """PIC on one image and map: xaikit's SIC + AIC (one call) vs PAIR's SIC call and AIC call."""
    rnd = pic.random_mask(224, 224, 0.01, seed=i)
    t0 = time.perf_counter()
    r, _ = pic.pic_image(model, x, {"xrai": heatmap}, mode="rebuild", random=rnd)
    sic, _ = r.sic("xrai", 0.0)
    aic, _ = r.aic("xrai")
    t_ours = time.perf_counter() - t0
    label = r.label

    def softmax(b):
        return model.predict(pic.to_tensor(b))[:, label].numpy()

    def correct(b):
        return (model.predict(pic.to_tensor(b)).argmax(1) == label).float().numpy()

    out = dict(pic_ours_sic_aic_s=t_ours, pic_sic_auc_ours=None if sic is None else pic.area(sic),
               pic_aic_auc_ours=None if aic is None else pic.area(aic))
    for key, fn in (("sic", softmax), ("aic", correct)):
        t0 = time.perf_counter()
        try:
            pr = compute_pic_metric(pic.to_uint8(x), heatmap, rnd, fn, pic.THRESHOLDS, min_pred_value=0.0)
            auc, err = float(pr.auc), None
        except Exception as e:     # PAIR skips the image
            auc, err = None, str(e)[:80]
        out[f"pic_pair_{key}_s"] = time.perf_counter() - t0
        out[f"pic_{key}_auc_pair"], out[f"pair_{key}_skipped"] = auc, err
    out["pic_speedup_sic"] = out["pic_pair_sic_s"] / t_ours
    out["pic_speedup_sic_aic"] = (out["pic_pair_sic_s"] + out["pic_pair_aic_s"]) / t_ours
    return out


if __name__ == "__main__":
    main()
