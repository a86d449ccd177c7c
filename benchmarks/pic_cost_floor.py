"""The floor of one PIC call, "one image, all methods" (notebook 05's `pic.pic_image` with a dict of maps), and
xaikit's distance from it.

    .venv/bin/python benchmarks/pic_cost_floor.py [--threads 0] [--n-images 3] [--n-maps 4] [--repeats 3]
                                                  [--start 0] [--out FILE.json]

Threads: `--threads N` (0: one per core) is set before the model is built; torch, NumPy/SciPy's BLAS and xaikit's
thread pool then use N, and the pool's workers are W = min(cores, N) (`runtime.thread_map`).

Per image, with --n-maps saliency maps (bench_xrai_pic.py's: XRAI heat map, gradient magnitude, Grad-CAM, random,
...) and PAIR's 13 thresholds, the work no exact implementation of PAIR's measure can skip:
- the 2 + 13 n_maps lossless WebP encodings (original, fully removed, every bokeh image) that define the
  information axis: `webp_cpu_s`, one after another in one thread (= CPU seconds on an idle machine);
- Qhull's Delaunay triangulation of the kept pixels (corners added) of the 1 + 13 n_maps rebuilt images, which
  makes the bokeh images identical to PAIR's: `qhull_cpu_s`, likewise;
- the forward pass of all 2 + 13 n_maps images through `models.logits` (the tuned forward plan), pre-built
  tensor: `forward_wall_s`.
floor_s = (webp_cpu_s + qhull_cpu_s) / W + forward_wall_s: the CPU work spread perfectly over the pool, then the
forward (which needs every image). Also recorded, not in the floor: `rebuild_cpu_s`, the whole rebuild of the
same images in one thread (Qhull plus locating and interpolating the removed pixels), to show where a gap is.
`pic_image_wall_s`: xaikit's `pic.pic_image` on the same image and maps. ratio_to_floor = pic_image_wall_s /
floor_s per image; the summary's is the ratio of the means (and the worst image's); the target is <= 1.3.
All pieces are timed --repeats times interleaved, median kept, after one untimed warm-up (numba kernel,
forward plan).
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from scipy.spatial import Delaunay

import _common as C

TARGET = 1.3


def _qhull(keep):
    k = keep.copy()
    k[[0, 0, -1, -1], [0, -1, 0, -1]] = True     # pic.rebuild (and PAIR) always keep the corners
    return Delaunay(np.argwhere(k).astype(np.float64))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=0, help="threads (0: one per core)")
    ap.add_argument("--n-images", type=int, default=3)
    ap.add_argument("--n-maps", type=int, default=4, help="saliency maps per image")
    ap.add_argument("--repeats", type=int, default=3, help="timings of each piece (the median is kept)")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    threads = C.set_threads(args.threads)
    from bench_xrai_pic import MAPS, limit_blas, pic_maps
    blas = limit_blas(threads)
    from xaikit import attribution, data, models, pic, runtime, xrai

    workers = min(runtime.cpu_cores(), torch.get_num_threads())    # what runtime.thread_map uses
    model = models.load_model("efficientnet_lite0", "cpu")
    d = data.load_imagenet_sample(args.n_images, start=args.start)
    g = attribution.attribute(model, d.images, None, method="gradient", batch_size=4)
    maps = pic_maps(model, d.images, g, [xrai.explain(x, gi).heatmap for x, gi in zip(d.images, g)], args.n_maps)
    rows = []
    for i in range(len(d)):
        x, img = d.images[i], pic.to_uint8(d.images[i])
        rnd = pic.random_mask(224, 224, 0.01, seed=i)
        keeps = [rnd] + [k for s in maps[i].values() for k in pic.keep_masks(s, pic.THRESHOLDS, rnd)]
        boks = [pic.rebuild(img, k) for k in keeps]
        batch = pic.to_tensor(np.stack([img] + boks))
        if i == 0:    # warm-up: pic's numba kernel, the forward plan at this batch
            pic.pic_image(model, x, maps[i], random=rnd)
        _, t = C.alternate({
            "webp": lambda: [pic.webp_size(b) for b in [img] + boks],
            "qhull": lambda: [_qhull(k) for k in keeps],
            "forward": lambda: models.logits(model, batch),
            "pic_image": lambda: pic.pic_image(model, x, maps[i], random=rnd),
            "rebuild": lambda: [pic.rebuild(img, k) for k in keeps],
        }, args.repeats)
        floor = (t["webp"] + t["qhull"]) / workers + t["forward"]
        row = dict(image=d.names[i], n_webp=len(boks) + 1, n_qhull=len(keeps), n_forward=len(batch),
                   webp_cpu_s=t["webp"], qhull_cpu_s=t["qhull"], forward_wall_s=t["forward"],
                   rebuild_cpu_s=t["rebuild"], floor_without_triangulation_s=t["webp"] / workers + t["forward"],
                   floor_s=floor, pic_image_wall_s=t["pic_image"], ratio_to_floor=t["pic_image"] / floor)
        rows.append(row)
        C.show([row], list(row))
    mean = {k + "_mean": float(np.mean([r[k] for r in rows])) for k in rows[0] if k.endswith("_s")}
    ratio = mean["pic_image_wall_s_mean"] / mean["floor_s_mean"]
    summary = dict(threads=threads, workers=workers, data=d.source, n_images=len(d), n_maps=args.n_maps,
                   maps=list(MAPS[:args.n_maps]), repeats=args.repeats, **mean,
                   ratio_to_floor=ratio, max_ratio_to_floor=max(r["ratio_to_floor"] for r in rows),
                   target_ratio=TARGET, within_target=ratio <= TARGET)
    print(json.dumps(summary, indent=1))
    C.write(dict(machine=C.machine() | dict(blas_threads=blas), summary=summary, rows=rows), args.out, "pic_cost_floor")


if __name__ == "__main__":
    main()
