"""Perturbation metrics: xaikit against Quantus 0.6 on identical inputs, outputs asserted equal, same threads.

    .venv/bin/python benchmarks/bench_faithfulness.py [--threads 0] [--n-images 32] [--repeats 2] [--out FILE]

Three of Quantus's faithfulness metrics and the xaikit calls that compute the same numbers:
- PixelFlipping (Bach et al.): every pixel deleted in turn, most relevant first, black replacement; xaikit's
  `faithfulness.deletion_curves`. Quantus deletes `features_in_step` channel *elements* per step and needs that
  to divide H x W, so deleting one pixel of all three channels (3 elements) is impossible on 32 x 32 RGB: this
  row runs on Fashion-MNIST (one channel, 28 x 28, 784 steps) with a small CNN trained here for one epoch.
- RegionPerturbation (Samek et al.): non-overlapping patches by relevance sum; `faithfulness.region_order` +
  `deletion_curves(pixels_per_step=p*p)`. On 02's CIFAR-10 CNN (committed checkpoint): patch 1 (= pixel flipping
  with all channels, 1,024 steps; the kit's AOPC of notebook 02) and patch 4 (64 regions).
- FaithfulnessEstimate (Alvarez-Melis & Jaakkola): each pixel deleted alone, Pearson with its relevance;
  `faithfulness.single_pixel_deltas` + `faithfulness.faithfulness` (notebook 02's F), on Fashion-MNIST.
Equality: curves to 1e-5; F to 1e-2, because Quantus computes the output changes from float32 probabilities
(xaikit: float64), and single-pixel changes of a trained model sit a few float32 steps apart.
Maps: gradient x input summed over channels (continuous, so no ties whose order Quantus's unstable sort would
pick arbitrarily). Black = 0.0 passed as a number: Quantus's "black" is the minimum of the batch array.

Quantus runs as a user would run it (its default batch of 64 images, the model as given) and, to show where the
gain comes from, once more with xaikit's forward plan (its batch size, channels-last weights). Every job is timed
--repeats times, interleaved, median kept. Reported per job: seconds, forwarded images/s (every perturbed image
and the unperturbed one), the ratio Quantus / xaikit, and images/s as a fraction of the model's best forward
throughput on the same inputs: the exact batches xaikit forwards, recorded and replayed through the model with
nothing else (on random images the model runs slower than on these partly black ones, so a random-input
ceiling, also reported, would flatter the fraction).
"""
from __future__ import annotations

import copy
import warnings

import numpy as np
import torch

import _common as C


def _quantus(metric, model, x, maps, target, batch_size):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = metric(model=model, x_batch=x.numpy(), y_batch=target.numpy(), a_batch=maps[:, None].numpy(),
                     device="cpu", softmax=True, batch_size=batch_size)
    return np.asarray(out, dtype=np.float64)


def main(argv=None):
    ap = C.parser(__doc__, n_images=(32, "images per data set"))
    args = ap.parse_args(argv)
    C.set_threads(args.threads)

    import quantus

    from xaikit import attribution, data, models, training
    from xaikit import faithfulness as F

    cifar_model, ckpt = C.cifar_cnn()   # 02's CIFAR-10 CNN; test images drawn at random across classes
    cifar = data.load_cifar10("test", n=args.n_images, seed=args.seed)
    # a small CNN on Fashion-MNIST, one epoch on 12,000 training images (speed and equality need no better)
    fm_model = models.small_cnn(tuple(range(10)))
    fm_train = data.load_fashion_mnist("train", n=12_000, seed=args.seed)
    training.train(fm_model, fm_train.images, fm_train.labels, epochs=1, seed=args.seed, show_progress=False)
    fm_model.eval()
    fm = data.load_fashion_mnist("test", n=args.n_images, seed=args.seed)

    setups = {}
    for name, model, d in (("cifar", cifar_model, cifar), ("fmnist", fm_model, fm)):
        x = d.images
        maps = attribution.to_2d(attribution.attribute(model, x, method="gradient_x_input"), "sum")
        target = F.predicted(model, x)
        plan = models.forward_plan(model, tuple(x.shape[1:]))
        # Quantus with the plan: a copy whose weights are channels-last (its inputs arrive contiguous)
        q_model = copy.deepcopy(model).to(memory_format=torch.channels_last) if plan.channels_last else model
        setups[name] = dict(model=model, x=x, maps=maps, target=target, plan=plan, q_model=q_model,
                            source=d.source, ceiling=C.forward_ceiling(model, tuple(x.shape[1:])))

    hw = lambda s: s["x"].shape[2] * s["x"].shape[3]  # noqa: E731
    jobs = []
    s = setups["fmnist"]
    jobs.append(dict(
        metric="PixelFlipping", data="fmnist", steps=hw(s),
        quantus=lambda b, m: quantus.PixelFlipping(features_in_step=1, perturb_baseline=0.0, disable_warnings=True,
                                                   display_progressbar=False),
        quantus_out=lambda q: q,
        ours=lambda s: F.deletion_curves(s["model"], s["x"], F.pixel_order(s["maps"]), torch.zeros_like(s["x"]),
                                         steps=hw(s), target=s["target"])[:, 1:],
        forwarded=lambda s: len(s["x"]) * (hw(s) + 1), q_forwarded=lambda s: len(s["x"]) * hw(s)))
    for patch in (1, 4):
        jobs.append(dict(
            metric=f"RegionPerturbation patch {patch}", data="cifar", steps=hw(setups["cifar"]) // patch ** 2,
            quantus=lambda b, m, patch=patch: quantus.RegionPerturbation(
                patch_size=patch, regions_evaluation=hw(setups["cifar"]) // patch ** 2, perturb_baseline=0.0,
                disable_warnings=True, display_progressbar=False),
            quantus_out=lambda q: q,
            ours=lambda s, patch=patch: (lambda c: c[:, :1] - c[:, 1:])(F.deletion_curves(
                s["model"], s["x"], F.region_order(s["maps"], patch), torch.zeros_like(s["x"]),
                steps=hw(s) // patch ** 2, target=s["target"], pixels_per_step=patch ** 2)),
            forwarded=lambda s, patch=patch: len(s["x"]) * (hw(s) // patch ** 2 + 1),
            q_forwarded=lambda s, patch=patch: len(s["x"]) * (hw(s) // patch ** 2 + 1)))
    jobs.append(dict(
        metric="FaithfulnessEstimate", data="fmnist", steps=hw(s),
        quantus=lambda b, m: quantus.FaithfulnessEstimate(features_in_step=1, perturb_baseline=0.0,
                                                          disable_warnings=True, display_progressbar=False),
        quantus_out=lambda q: q,
        ours=lambda s: F.faithfulness(s["maps"], torch.arange(hw(s)), F.single_pixel_deltas(
            s["model"], s["x"], torch.arange(hw(s)), torch.zeros_like(s["x"]), target=s["target"])),
        forwarded=lambda s: len(s["x"]) * (hw(s) + 1), q_forwarded=lambda s: len(s["x"]) * (hw(s) + 1)))

    def forward_only(j, s):
        """Images/s of the model on exactly the batches xaikit forwards for this job (recorded, then replayed
        through `models.logits` with nothing else): the model's best on these inputs, which run faster than
        random ones (black pixels make some kernels faster), so the fraction below is read against the same data."""
        batches, orig = [], F.probabilities

        def record(model, x, target, batch_size=None):
            batches.append((x.clone(), batch_size))
            return orig(model, x, target, batch_size)
        F.probabilities = record
        try:
            j["ours"](s)
        finally:
            F.probabilities = orig
        n = sum(len(b) for b, _ in batches)
        _, t = C.alternate({"f": lambda: [models.logits(s["model"], b, bs) for b, bs in batches]}, 2)
        return n / t["f"]

    rows = []
    for j in jobs:
        s = setups[j["data"]]
        bs = s["plan"].batch_size
        out, t = C.alternate({
            "xaikit": lambda: j["ours"](s),
            "quantus_default": lambda: _quantus(j["quantus"](64, s["model"]), s["model"], s["x"], s["maps"],
                                                s["target"], 64),
            "quantus_with_plan": lambda: _quantus(j["quantus"](bs, s["q_model"]), s["q_model"], s["x"], s["maps"],
                                                  s["target"], bs),
        }, args.repeats)
        ours = out["xaikit"].double().numpy()
        diff = max(float(np.nanmax(np.abs(out[k] - ours))) for k in ("quantus_default", "quantus_with_plan"))
        # Quantus subtracts float32 probabilities; a trained model's single-pixel deltas are ~1e-6, a few float32
        # steps near p = 1, so its correlation (not ours: float64) carries ~1e-3 of rounding
        tol = 1e-2 if j["metric"] == "FaithfulnessEstimate" else 1e-5
        assert diff < tol, f"{j['metric']}: xaikit and Quantus differ by {diff:.3g}"
        n_ours, n_q = j["forwarded"](s), j["q_forwarded"](s)
        ceiling = forward_only(j, s)
        row = dict(metric=j["metric"], data=s["source"], n_images=len(s["x"]), steps=j["steps"],
                   max_abs_difference=diff,
                   xaikit_s=t["xaikit"], quantus_default_s=t["quantus_default"],
                   quantus_with_plan_s=t["quantus_with_plan"],
                   forward_only_images_per_s=ceiling, random_input_forward_images_per_s=s["ceiling"]["images_per_s"],
                   xaikit_images_per_s=n_ours / t["xaikit"], quantus_default_images_per_s=n_q / t["quantus_default"],
                   quantus_with_plan_images_per_s=n_q / t["quantus_with_plan"],
                   speedup_vs_quantus_default=t["quantus_default"] / t["xaikit"],
                   speedup_vs_quantus_with_plan=t["quantus_with_plan"] / t["xaikit"],
                   xaikit_fraction_of_best_forward=n_ours / t["xaikit"] / ceiling,
                   quantus_default_fraction_of_best_forward=n_q / t["quantus_default"] / ceiling)
        rows.append(row)
        C.show([row], ["metric", "xaikit_s", "quantus_default_s", "quantus_with_plan_s",
                       "speedup_vs_quantus_default", "xaikit_fraction_of_best_forward", "max_abs_difference"])
    record = dict(machine=C.machine(), n_images=args.n_images, repeats=args.repeats, seed=args.seed,
                  checkpoint=ckpt,
                  forward_ceiling={k: s["ceiling"] for k, s in setups.items()},
                  targets=dict(speedup_vs_quantus=">= 3", fraction_of_best_forward=">= 0.8"),
                  rows=rows)
    C.write(record, args.out, "bench_faithfulness")


if __name__ == "__main__":
    main()
