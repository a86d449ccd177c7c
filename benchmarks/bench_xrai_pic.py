"""XRAI and PIC: xaikit against PAIR's own implementation (PyPI `saliency` 0.2.1), same inputs, same machine.

    .venv/bin/python benchmarks/bench_xrai_pic.py [--n-images 3] [--start 0] [--device auto] [--out FILE.json]

XRAI: the full greedy algorithm with segmentation, base attribution excluded (both get the same attribution:
the plain gradient of EfficientNet-Lite0, computed once). Checks the region order is identical.
PIC: one image and one saliency map (our XRAI heat map); PAIR's compute_pic_metric gives one curve (SIC)
per call; xaikit's pic_image gives SIC and AIC from the same bokeh images; checks both SIC curves agree.
PAIR and xaikit are timed alternately on each image, so a busy machine slows both alike.
With a GPU (--device cuda) it also times xaikit's XRAI for all images at once including IG (black + white).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

np.trapz = getattr(np, "trapz", np.trapezoid)   # PAIR's PIC code calls np.trapz, removed in NumPy 2.4


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-images", type=int, default=3)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = ap.parse_args(argv)

    from saliency.core.xrai import XRAI, XRAIParameters
    from saliency.metrics.pic import compute_pic_metric

    from xaikit import attribution, data, models, pic, runtime, xrai

    dev = runtime.device(args.device)
    model = models.load_model("efficientnet_lite0", dev)
    d = data.load_imagenet_sample(args.n_images, start=args.start)
    grads = attribution.attribute(model, d.images, None, method="gradient", batch_size=4)
    rows = []
    for i in range(len(d)):
        x = d.images[i]
        xh = x.permute(1, 2, 0).double().numpy()
        ah = grads[i].permute(1, 2, 0).double().numpy()
        p = XRAIParameters()
        p.return_xrai_segments = True
        t0 = time.perf_counter()
        ref = XRAI().GetMaskWithDetails(xh, None, base_attribution=ah, extra_parameters=p)
        t_pair = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = xrai.explain(x, grads[i])
        t_ours = time.perf_counter() - t0
        same = bool((ours.ranks == ref.segments).all())

        # PIC on our XRAI heat map: PAIR's SIC curve vs ours (SIC + AIC).
        img = pic.to_uint8(x)
        rnd = pic.random_mask(224, 224, 0.01, seed=i)
        t0 = time.perf_counter()
        r, _ = pic.pic_image(model, x, {"xrai": ours.heatmap}, mode="rebuild", random=rnd)
        sic, _ = r.sic("xrai", 0.0)
        aic, _ = r.aic("xrai")
        t_pic_ours = time.perf_counter() - t0
        label = r.label

        def softmax(b):
            return model.predict(pic.to_tensor(b))[:, label].numpy()

        t0 = time.perf_counter()
        try:
            pr = compute_pic_metric(img, ours.heatmap, rnd, softmax, pic.THRESHOLDS, min_pred_value=0.0)
            pair_auc, pair_err = float(pr.auc), None
        except Exception as e:     # PAIR skips the image
            pair_auc, pair_err = None, str(e)[:80]
        t_pic_pair = time.perf_counter() - t0
        row = dict(image=d.names[i], xrai_same_order=same, xrai_pair_s=t_pair, xrai_ours_s=t_ours,
                   xrai_speedup=t_pair / t_ours, pic_pair_sic_s=t_pic_pair, pic_ours_sic_aic_s=t_pic_ours,
                   pic_speedup=t_pic_pair / t_pic_ours, pic_sic_auc_ours=None if sic is None else pic.area(sic),
                   pic_sic_auc_pair=pair_auc, pair_skipped=pair_err)
        rows.append(row)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

    summary = dict(
        hardware=runtime.versions() | {"hardware": __import__("xaikit.results").results.hardware()},
        data=d.source, n_images=len(d),
        xrai_pair_s_mean=float(np.mean([r["xrai_pair_s"] for r in rows])),
        xrai_ours_s_mean=float(np.mean([r["xrai_ours_s"] for r in rows])),
        xrai_all_same_order=all(r["xrai_same_order"] for r in rows),
        pic_pair_s_mean=float(np.mean([r["pic_pair_sic_s"] for r in rows])),
        pic_ours_s_mean=float(np.mean([r["pic_ours_sic_aic_s"] for r in rows])),
    )
    summary["xrai_speedup"] = summary["xrai_pair_s_mean"] / summary["xrai_ours_s_mean"]
    summary["pic_speedup"] = summary["pic_pair_s_mean"] / summary["pic_ours_s_mean"]
    if dev.type == "cuda":
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        xrai.xrai(model, d.images, None, n_steps=100, batch_size=len(d))
        torch.cuda.synchronize()
        summary["gpu_xrai_with_ig100_all_images_s"] = time.perf_counter() - t0
    print(json.dumps(summary, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(summary=summary, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
