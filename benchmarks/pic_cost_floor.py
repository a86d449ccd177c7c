"""Where the time of one image's PIC goes, piece by piece, to show the floor below which no exact
implementation of PAIR's measure can go on this machine.

    .venv/bin/python benchmarks/pic_cost_floor.py [--n-images 3] [--out FILE.json]

One image, one saliency map (XRAI on the plain gradient of EfficientNet-Lite0), PAIR's 13 thresholds:
- the 15 lossless WebP encodings (original, fully removed, 13 bokeh images) that define the information axis,
  timed one after another (CPU seconds);
- the forward pass of those 15 images in one batch (wall seconds, torch's threads);
- Qhull's Delaunay triangulation of the kept pixels for the 14 rebuilt images (CPU seconds), which keeps
  the bokeh images identical to PAIR's;
- xaikit's whole `pic.pic_image` (wall seconds).
The floor on C cores is WebP / C + forward (+ Qhull / C with exact images); PAIR's time per curve is in
bench_xrai_pic.py's output.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from scipy.spatial import Delaunay


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-images", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    from xaikit import attribution, data, models, pic, results, runtime, xrai

    model = models.load_model("efficientnet_lite0", "cpu")
    d = data.load_imagenet_sample(args.n_images)
    g = attribution.attribute(model, d.images, None, method="gradient")
    cores = runtime.cpu_cores()
    model.predict(d.images[:2])                          # warm-up
    rows = []
    for i in range(len(d)):
        x, img = d.images[i], pic.to_uint8(d.images[i])
        hm = xrai.explain(x, g[i]).heatmap
        rnd = pic.random_mask(224, 224, 0.01, seed=i)
        keeps = [rnd] + list(pic.keep_masks(hm, pic.THRESHOLDS, rnd))
        boks = [pic.rebuild(img, k) for k in keeps]
        t0 = time.perf_counter()
        for b in [img] + boks:
            pic.webp_size(b)
        t_webp = time.perf_counter() - t0
        t0 = time.perf_counter()
        for k in keeps:
            k = k.copy()
            k[[0, 0, -1, -1], [0, -1, 0, -1]] = True
            Delaunay(np.argwhere(k).astype(np.float64))
        t_qhull = time.perf_counter() - t0
        batch = pic.to_tensor(np.stack([img] + boks))
        t0 = time.perf_counter()
        model.predict(batch)
        t_fwd = time.perf_counter() - t0
        t0 = time.perf_counter()
        pic.pic_image(model, x, {"xrai": hm}, random=rnd)
        t_all = time.perf_counter() - t0
        row = dict(image=d.names[i], webp_cpu_s=t_webp, n_webp=len(boks) + 1, forward_wall_s=t_fwd,
                   qhull_cpu_s=t_qhull, n_qhull=len(keeps), pic_image_wall_s=t_all,
                   floor_without_triangulation_s=t_webp / cores + t_fwd,
                   floor_exact_s=(t_webp + t_qhull) / cores + t_fwd)
        rows.append(row)
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    summary = dict(hardware=runtime.hardware(), cores=cores, load_average=os.getloadavg(), data=d.source,
                   **{k + "_mean": float(np.mean([r[k] for r in rows])) for k in rows[0] if k.endswith("_s")})
    print(json.dumps(summary, indent=1))
    if args.out:
        results.write_json(dict(summary=summary, rows=rows), Path(args.out))


if __name__ == "__main__":
    main()
