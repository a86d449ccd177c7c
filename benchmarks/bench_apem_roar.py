"""APEM's eps searches and ROAR's evaluation: forward-bound work with no library peer, timed against the authors'
own loops on identical inputs (outputs asserted equal) and against the model's best forward throughput.

    .venv/bin/python benchmarks/bench_apem_roar.py [--threads 0] [--n-images 64] [--repeats 2] [--out FILE]

Model and data: 02's CIFAR-10 CNN (committed checkpoint), CIFAR-10 test images drawn at random across classes.
- APEM (Valle et al.): for each image the smallest eps whose perturbation x + eps * d flips the prediction, d the
  L1-normalised gradient x input relevance times the sign of the loss gradient (the paper's step 2). The
  authors' code (GitHub danvalle/adversarial_metric) searches eps coarse-to-fine (paces 1000, 100, 10, 1 up to
  10,000) with one image per forward pass: `apem.authors_search_reference`, their loop. xaikit's
  `apem.authors_search` runs the same search for all images at once in full forward batches.
- ROAR evaluation: the test accuracy of a retrained model, run for every (method, fraction, seed) cell:
  `training.accuracy` (forward plan) against the loop the kit used before (batches of 256, contiguous input)
  on 10,000 test images.
Reported: seconds, forwarded images/s, speed-up, fraction of the model's best forward throughput (same run).
"""
from __future__ import annotations

import torch

import _common as C


def main(argv=None):
    ap = C.parser(__doc__, n_images=(64, "images for the APEM search"),
                  n_reference=(8, "of those, images for the authors' loop"))
    args = ap.parse_args(argv)
    C.set_threads(args.threads)

    from xaikit import apem, attribution, data, models, training

    model, ckpt = C.cifar_cnn()
    d = data.load_cifar10("test", n=args.n_images, seed=args.seed)
    x = d.images
    labels = models.predicted_class(model, x)
    rel = attribution.attribute(model, x, labels, "gradient_x_input").sum(1, keepdim=True).abs()
    direction = apem.directed(rel, apem.loss_gradient_sign(model, x, labels))
    ceiling = C.forward_ceiling(model, tuple(x.shape[1:]))
    rows = []

    # APEM: the authors' coarse-to-fine search, batched vs their loop (on the first --n-reference images)
    k = args.n_reference
    stats = apem.SearchStats()
    out, t = C.alternate({
        "xaikit": lambda: apem.authors_search(model, x[:k], direction[:k], labels[:k]),
        "authors_loop": lambda: torch.tensor([apem.authors_search_reference(model, x[i], direction[i], labels[i])
                                              for i in range(k)]),
    }, args.repeats)
    assert torch.equal(out["xaikit"], out["authors_loop"]), "batched search and the authors' loop disagree"
    apem.authors_search(model, x[:k], direction[:k], labels[:k], stats=stats)
    loop_forwards = _count_loop_forwards(model, x[:k], direction[:k], labels[:k], apem)
    rows.append(dict(job="APEM authors' search", n_images=k, same_eps=True,
                     xaikit_s=t["xaikit"], reference_s=t["authors_loop"], speedup=t["authors_loop"] / t["xaikit"],
                     xaikit_images_forwarded=stats.images_forwarded, reference_images_forwarded=loop_forwards,
                     xaikit_images_per_s=stats.images_forwarded / t["xaikit"],
                     reference_images_per_s=loop_forwards / t["authors_loop"],
                     xaikit_fraction_of_best_forward=stats.images_forwarded / t["xaikit"] / ceiling["images_per_s"]))
    # all --n-images at once, for the throughput a notebook sees
    stats = apem.SearchStats()
    _, t_all = C.timed(lambda: apem.authors_search(model, x, direction, labels, stats=stats))
    rows.append(dict(job="APEM authors' search, all images", n_images=len(x), xaikit_s=t_all,
                     xaikit_images_forwarded=stats.images_forwarded,
                     xaikit_images_per_s=stats.images_forwarded / t_all,
                     xaikit_fraction_of_best_forward=stats.images_forwarded / t_all / ceiling["images_per_s"]))

    # ROAR evaluation: accuracy on the full test set
    test = data.load_cifar10("test")

    def before():
        correct = 0
        with torch.no_grad():
            for i in range(0, len(test.images), 256):
                correct += (model(test.images[i:i + 256]).argmax(1) == test.labels[i:i + 256]).sum().item()
        return correct / len(test.images)
    out, t = C.alternate({"xaikit": lambda: training.accuracy(model, test.images, test.labels),
                          "before": before}, args.repeats, warmup=True)
    assert out["xaikit"] == out["before"]
    n = len(test.images)
    rows.append(dict(job="ROAR evaluation (test accuracy)", n_images=n, accuracy=out["xaikit"],
                     xaikit_s=t["xaikit"], reference_s=t["before"], speedup=t["before"] / t["xaikit"],
                     xaikit_images_per_s=n / t["xaikit"], reference_images_per_s=n / t["before"],
                     xaikit_fraction_of_best_forward=n / t["xaikit"] / ceiling["images_per_s"]))
    for r in rows:
        C.show([r], [k for k in ("job", "n_images", "xaikit_s", "reference_s", "speedup", "xaikit_images_per_s",
                                 "xaikit_fraction_of_best_forward") if k in r])
    C.write(dict(machine=C.machine(), data=d.source, test_data=test.source, checkpoint=ckpt,
                 repeats=args.repeats, seed=args.seed, forward_ceiling=ceiling, rows=rows),
            args.out, "bench_apem_roar")


def _count_loop_forwards(model, x, d, labels, apem) -> int:
    from xaikit import models
    with models.count_forward(model) as c:
        for i in range(len(x)):
            apem.authors_search_reference(model, x[i], d[i], labels[i])
    return c.images


if __name__ == "__main__":
    main()
