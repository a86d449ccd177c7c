"""XRAI and PIC: xaikit against PAIR's own implementation (PyPI `saliency` 0.2.1), same inputs, same machine,
same thread count.

    .venv/bin/python benchmarks/bench_xrai_pic.py [--threads 0] [--n-images 8] [--n-pic 2] [--n-maps 4]
                                                  [--repeats 3] [--pic-repeats 1] [--start 0] [--device auto]
                                                  [--out FILE.json]

Threads: `--threads N` (0: one per core) is set before anything is built, for both sides: torch's threads (every
forward pass, PAIR's through its pred_func included), xaikit's thread pool (`runtime.thread_map` uses min(cores,
torch threads) workers: WebP encodings, Qhull rebuilds, batched segmentation) and the BLAS pools of NumPy/SciPy
(threadpoolctl). Run it once with --threads 1 and once with --threads 0: the first compares the algorithms, the
second adds what parallelism gives on this machine; the thread count is in the file name and the record.

XRAI: the full algorithm (segmentation at 6 scales, dilation, greedy regions), base attribution excluded: both
get the same attribution (the plain gradient of EfficientNet-Lite0, computed once). Per image: PAIR's XRAI,
xaikit's `xrai.explain` (compiled Felzenszwalb, the default) and xaikit with scikit-image's Felzenszwalb
(`engine="skimage"`, to show where the time goes); all three are sequential code, so this comparison is one
thread against one whatever --threads says. Then all images at once with `segments_many`, which uses the thread
pool (`xrai_ours_batched_threads` workers). Checks that the region order is identical. One untimed warm-up call
of each comes first (xaikit's first call in a process loads or compiles the numba kernel; its time is reported).
Each XRAI timing is the median of --repeats alternating runs.

PIC (SIC + AIC) on the first --n-pic images, "one image, all methods" as notebook 05 calls it: --n-maps saliency
maps per image (XRAI heat map, gradient magnitude, Grad-CAM, random, then gradient x input, Sobel). PAIR's
`compute_pic_metric` gives one curve of one map per call, so it is called 2 x n_maps times (SIC with a softmax
pred_func, AIC with a correct/incorrect one); its pred_func is the same forward as xaikit's (the forward plan's
memory format) on the one image PAIR passes at a time, not padded to 4 rows as `models.logits` pads. xaikit's
`pic.pic_image` takes all maps at once and gives SIC and AIC from the same bokeh images. Per image: PAIR seconds
(sum of its 2 x n_maps calls), xaikit seconds, their ratio, and whether all 2 x n_maps areas agree. One untimed
warm-up of each side first; then --pic-repeats alternating runs, median kept.
With a GPU (--device cuda) it also times xaikit's XRAI for all images at once including IG (black + white).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

import _common as C

np.trapz = getattr(np, "trapz", np.trapezoid)   # PAIR's PIC code calls np.trapz, removed in NumPy 2.4

MAPS = ("xrai", "gradient", "grad_cam", "random", "gradient_x_input", "sobel")


def limit_blas(n: int) -> dict:
    """NumPy's and SciPy's BLAS pools to n threads as well -> {library: threads}. threadpoolctl only reaches
    libraries already loaded, so SciPy's own OpenBLAS (not NumPy's) is loaded first."""
    import scipy.linalg  # noqa: F401
    threadpool_limits(n, user_api="blas")
    return {i["filepath"].rsplit("/", 1)[-1]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def pic_maps(model, x, grads, heatmaps, n_maps) -> list[dict]:
    """n_maps 2-D saliency maps {name: (H, W) array} per image of x: the first n_maps of MAPS ("gradient" is the
    channel max of |gradient|; XRAI's heat map is given; the rest from `attribution.attribute`)."""
    from xaikit import attribution
    if not 1 <= n_maps <= len(MAPS):
        raise SystemExit(f"--n-maps must be 1..{len(MAPS)}")
    maps = {"xrai": np.stack(heatmaps), "gradient": attribution.to_2d(grads[:len(x)], "max_abs").numpy()}
    for m in MAPS[2:n_maps]:
        maps[m] = attribution.to_2d(attribution.attribute(model, x, None, method=m, batch_size=4), "sum").numpy()
    return [{m: maps[m][i] for m in MAPS[:n_maps]} for i in range(len(x))]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=0, help="threads for both sides (0: one per core)")
    ap.add_argument("--n-images", type=int, default=8, help="images for the XRAI timing")
    ap.add_argument("--n-pic", type=int, default=2, help="of those, images for the PIC timing (PAIR's is slow)")
    ap.add_argument("--n-maps", type=int, default=4, help=f"saliency maps per PIC image (1..{len(MAPS)})")
    ap.add_argument("--repeats", type=int, default=3, help="XRAI timings per image (the median is kept)")
    ap.add_argument("--pic-repeats", type=int, default=1, help="PIC timings per image (the median is kept)")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = ap.parse_args(argv)
    threads = C.set_threads(args.threads)
    blas = limit_blas(threads)

    from saliency.core.xrai import XRAI, XRAIParameters
    from saliency.metrics.pic import compute_pic_metric

    from xaikit import attribution, data, models, pic, runtime, xrai

    dev = runtime.device(args.device)
    load_before = list(os.getloadavg())
    model = models.load_model("efficientnet_lite0", dev)
    d = data.load_imagenet_sample(args.n_images, start=args.start)
    grads = attribution.attribute(model, d.images, None, method="gradient", batch_size=4).cpu()
    p = XRAIParameters()
    p.return_xrai_segments = True

    def pair_xrai(i):
        return XRAI().GetMaskWithDetails(d.images[i].permute(1, 2, 0).double().numpy(), None,
                                         base_attribution=grads[i].permute(1, 2, 0).double().numpy(),
                                         extra_parameters=p)

    _, t_first = C.timed(lambda: xrai.explain(d.images[0], grads[0]))     # warm-up: numba kernel load/compile
    xrai.explain(d.images[0], grads[0], engine="skimage")
    pair_xrai(0)
    rows, heatmaps = [], []
    for i in range(len(d)):
        # median of --repeats alternating runs: one stray pause does not decide a row
        out, t = C.alternate({"pair": lambda: pair_xrai(i), "ours": lambda: xrai.explain(d.images[i], grads[i]),
                              "sk": lambda: xrai.explain(d.images[i], grads[i], engine="skimage")}, args.repeats)
        ref = out["pair"]
        same = bool((out["ours"].ranks == ref.segments).all() and (out["sk"].ranks == ref.segments).all())
        heatmaps.append(out["ours"].heatmap)
        rows.append(dict(image=d.names[i], xrai_same_order=same, xrai_pair_s=t["pair"], xrai_ours_s=t["ours"],
                         xrai_ours_skimage_felzenszwalb_s=t["sk"], xrai_speedup=t["pair"] / t["ours"]))
        C.show(rows[-1:], list(rows[-1]))

    # All images at once: segmentation in the thread pool, then the greedy regions.
    def batch():
        masks = xrai.segments_many(list(d.images))
        return [xrai.explain(x, g, m) for x, g, m in zip(d.images, grads, masks)]
    res, t_batch = C.timed(batch)
    batch_same = all((r.ranks == o.ranks).all() for r, o in zip(res, [xrai.explain(x, g) for x, g in
                                                                      zip(d.images, grads)]))

    # PIC: one image, all maps
    n_pic = min(args.n_pic, len(d))
    maps = pic_maps(model, d.images[:n_pic], grads, heatmaps[:n_pic], args.n_maps)
    pred = _pair_pred_func(model, models, pic)
    if n_pic:   # warm-up: pic's numba kernel, PIL's WebP, the forward at both batch shapes
        _pic_ours(model, d.images[0], maps[0], pic.random_mask(224, 224, 0.01, seed=0), pic)
        pred(pic.to_uint8(d.images[0])[None])
    pic_rows = []
    for i in range(n_pic):
        rnd = pic.random_mask(224, 224, 0.01, seed=i)
        img = pic.to_uint8(d.images[i])
        label = int(pred(img[None])[0].argmax())   # PAIR's API leaves the class to the caller: not timed
        out, t = C.alternate({"ours": lambda: _pic_ours(model, d.images[i], maps[i], rnd, pic),
                              "pair": lambda: _pic_pair(img, maps[i], rnd, label, pred, pic, compute_pic_metric)},
                             args.pic_repeats)
        (ours_label, areas), (pair_areas, skipped) = out["ours"], out["pair"]
        assert ours_label == label, f"{d.names[i]}: top-1 class differs: xaikit {ours_label}, pred_func {label}"
        same = all(pair_areas[k] is None or (areas[k] is not None and abs(pair_areas[k] - areas[k]) < 1e-6)
                   for k in areas)
        pic_rows.append(dict(image=d.names[i], n_maps=args.n_maps, pic_pair_s=t["pair"], pic_ours_s=t["ours"],
                             pic_ratio_pair_over_ours=t["pair"] / t["ours"], pic_same_areas=same,
                             areas_ours=areas, areas_pair=pair_areas, pair_skipped=skipped))
        C.show(pic_rows[-1:], ["image", "pic_pair_s", "pic_ours_s", "pic_ratio_pair_over_ours", "pic_same_areas"])

    mean = lambda k, rs=rows: float(np.mean([r[k] for r in rs]))  # noqa: E731
    summary = dict(
        threads=threads, data=d.source, n_images=len(d), n_pic_images=n_pic, n_maps=args.n_maps,
        maps=list(MAPS[:args.n_maps]), repeats=args.repeats, pic_repeats=args.pic_repeats,
        xrai_first_call_s=t_first,
        xrai_pair_s_mean=mean("xrai_pair_s"),
        xrai_ours_s_mean=mean("xrai_ours_s"),
        xrai_ours_skimage_felzenszwalb_s_mean=mean("xrai_ours_skimage_felzenszwalb_s"),
        xrai_ours_batched_threads=min(runtime.cpu_cores(), torch.get_num_threads(), len(d)),
        xrai_ours_batched_s_per_image=t_batch / len(d),
        xrai_all_same_order=all(r["xrai_same_order"] for r in rows) and batch_same,
        xrai_min_speedup=min(r["xrai_speedup"] for r in rows),
    )
    summary["xrai_speedup"] = summary["xrai_pair_s_mean"] / summary["xrai_ours_s_mean"]
    summary["xrai_speedup_skimage_felzenszwalb"] = \
        summary["xrai_pair_s_mean"] / summary["xrai_ours_skimage_felzenszwalb_s_mean"]
    summary["xrai_speedup_batched"] = summary["xrai_pair_s_mean"] / summary["xrai_ours_batched_s_per_image"]
    if pic_rows:
        summary.update(pic_pair_s_mean=mean("pic_pair_s", pic_rows), pic_ours_s_mean=mean("pic_ours_s", pic_rows),
                       pic_same_areas=all(r["pic_same_areas"] for r in pic_rows))
        summary["pic_ratio_pair_over_ours"] = summary["pic_pair_s_mean"] / summary["pic_ours_s_mean"]
    if dev.type == "cuda":
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        xrai.xrai(model, d.images, None, n_steps=100, batch_size=len(d))
        torch.cuda.synchronize()
        summary["gpu_xrai_with_ig100_all_images_s"] = time.perf_counter() - t0
    print(json.dumps(summary, indent=1))
    record = dict(machine=C.machine() | dict(blas_threads=blas, load_average_before=load_before), summary=summary,
                  xrai_rows=rows, pic_rows=pic_rows)
    C.write(record, args.out, "bench_xrai_pic")


def _pair_pred_func(model, models, pic):
    """Softmax of a batch of (H, W, C) uint8 images: xaikit's forward (the plan's memory format) without its
    padding to a multiple of 4 rows, so PAIR's one-image calls cost one image each."""
    dev = next(model.parameters()).device
    fmt = torch.channels_last if models.forward_plan(model, (3, 224, 224)).channels_last \
        else torch.contiguous_format

    def pred(b):
        with torch.inference_mode():
            return torch.softmax(model(pic.to_tensor(b).to(dev).contiguous(memory_format=fmt)), 1).float().cpu()
    return pred


def _pic_ours(model, x, maps, rnd, pic):
    """xaikit: one `pic_image` call for all maps, then every map's SIC and AIC area -> (label, areas)."""
    r, _ = pic.pic_image(model, x, maps, mode="rebuild", random=rnd)
    areas = {}
    for m in maps:
        for k, (curve, _) in (("sic", r.sic(m, 0.0)), ("aic", r.aic(m))):
            areas[f"{m}_{k}"] = None if curve is None else pic.area(curve)
    return r.label, areas


def _pic_pair(img, maps, rnd, label, pred, pic, compute_pic_metric):
    """PAIR: compute_pic_metric per map and curve -> (areas, why PAIR skipped a curve)."""
    areas, skipped = {}, {}
    fns = {"sic": lambda b: pred(b)[:, label].numpy(),
           "aic": lambda b: (pred(b).argmax(1) == label).float().numpy()}
    for m, s in maps.items():
        for k, fn in fns.items():
            try:
                r = compute_pic_metric(img, s, rnd, fn, pic.THRESHOLDS, min_pred_value=0.0)
                areas[f"{m}_{k}"] = float(r.auc)
            except Exception as e:     # PAIR skips the image
                areas[f"{m}_{k}"], skipped[f"{m}_{k}"] = None, str(e)[:80]
    return areas, skipped


if __name__ == "__main__":
    main()
