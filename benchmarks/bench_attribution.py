"""Attribution throughput: `xaikit.attribution.attribute` against calling Captum directly, same inputs, same threads.

    .venv/bin/python benchmarks/bench_attribution.py [--threads 0] [--n-imagenet 16] [--n-cifar 256] [--repeats 2]

xaikit's attribution methods are Captum's (and Zennit's), so the question is what the wrapper costs or saves:
input checks, targets, seeding, batching, and the memory format of the model's forward plan (channels-last when
the sweep found it faster; gradients flow through the same kernels in that layout). Captum runs as its users
call it: the same class on batches of the same size (16, `attribute`'s default), contiguous NCHW input, the same
seed. The two memory formats sum in different orders, so the float32 maps differ where float32 is inexact (at a few
pixels, up to ~1e-2 of the map's scale on these models; the median pixel to ~1e-8). Each method is therefore also
run in float64, and xaikit is asserted to be as close to it as Captum is (within 2x), with a median difference
below 1e-5 of the map's scale. A second `attribute(..., cache=True)` call reads the maps from the content-hashed
cache; its time is reported too.

Models and data: EfficientNet-Lite0 on images drawn at random across the 1,000-image ImageNet sample, and 02's
CIFAR-10 CNN (committed checkpoint) on CIFAR-10 test images drawn at random across classes.

Reported per (model, method): seconds, images/s for both, speed-up, and two ceilings measured in the same run:
the model's best forward throughput (forward plan) and a forward + backward pass to the input (one gradient, the
cost of the plain gradient method) at the same batch size and the plan's memory format.
"""
from __future__ import annotations

import copy

import torch

import _common as C

METHODS = {
    # name: (xaikit method, params, Captum class, Captum kwargs)
    "gradient": ("gradient", {}, "Saliency", dict(abs=False)),
    "integrated_gradients": ("integrated_gradients", dict(n_steps=16),
                             "IntegratedGradients", dict(n_steps=16, method="gausslegendre")),
    "smoothgrad": ("smoothgrad", dict(noise_level=0.15, n_samples=8), "NoiseTunnel(Saliency)",
                   dict(nt_type="smoothgrad", nt_samples=8, stdevs=0.15, abs=False)),
    "guided_backprop": ("guided_backprop", {}, "GuidedBackprop", {}),
    "grad_cam": ("grad_cam", {}, "LayerGradCam", dict(relu_attributions=True)),
}


def _captum(model, x, target, name, batch_size):
    import captum.attr as ca
    from xaikit import runtime
    _, _, cls, kw = METHODS[name]
    kw = dict(kw)
    out = []
    with runtime.seeded(0):
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].clone().requires_grad_(True)
            tb = target[i:i + batch_size]
            if cls == "NoiseTunnel(Saliency)":
                abs_ = kw.pop("abs", False)
                a = ca.NoiseTunnel(ca.Saliency(model)).attribute(xb, target=tb, abs=abs_, **kw)
                kw["abs"] = abs_
            elif cls == "LayerGradCam":
                cam = ca.LayerGradCam(model, model.layer()).attribute(xb, target=tb, **kw)
                a = ca.LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")
                a = a.expand(-1, x.shape[1], -1, -1)
            elif cls == "IntegratedGradients":
                a = ca.IntegratedGradients(model).attribute(xb, target=tb, baselines=torch.zeros_like(xb), **kw)
            else:
                a = getattr(ca, cls)(model).attribute(xb, target=tb, **kw)
            out.append(a.detach())
    return torch.cat(out)


def _grad_ceiling(model, x, target, batch_size, channels_last):
    """Images/s of one forward + backward to the input, nothing else."""
    def run():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            xb = xb.clone(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
            xb.requires_grad_(True)
            out = model(xb)   # gradient to the input only, as Captum asks for it (no weight gradients)
            torch.autograd.grad(out.gather(1, target[i:i + batch_size, None]).sum(), xb)
    run()
    _, t = C.alternate({"g": run}, 3)
    return len(x) / t["g"]


def main(argv=None):
    ap = C.parser(__doc__, n_imagenet=(16, "ImageNet sample images"), n_cifar=(256, "CIFAR-10 test images"))
    args = ap.parse_args(argv)
    C.set_threads(args.threads)
    from xaikit import attribution, data, models

    cifar_model, ckpt = C.cifar_cnn()
    setups = [("efficientnet_lite0", models.load_model("efficientnet_lite0"),
               data.load_imagenet_sample(args.n_imagenet, seed=args.seed)),
              ("cifar_cnn", cifar_model, data.load_cifar10("test", n=args.n_cifar, seed=args.seed))]
    rows, ceilings = [], {}
    bs = 16
    for model_name, model, d in setups:
        x = d.images
        target = models.predicted_class(model, x)
        shape = tuple(x.shape[1:])
        plan = models.forward_plan(model, shape)
        ceilings[model_name] = dict(forward=C.forward_ceiling(model, shape),
                                    forward_backward_images_per_s=_grad_ceiling(model, x, target, bs,
                                                                                 plan.channels_last),
                                    data=d.source, n_images=len(x), batch_size=bs)
        model64 = copy.deepcopy(model).double()
        for name, (method, params, cls, _) in METHODS.items():
            out, t = C.alternate({
                "xaikit": lambda: attribution.attribute(model, x, target, method, batch_size=bs, **params),
                "captum": lambda: _captum(model, x, target, name, bs),
            }, args.repeats, warmup=True)
            ours, ref = out["xaikit"], out["captum"]
            # Two memory formats sum in different orders, so the float32 maps differ where float32 itself is
            # inexact. The yardstick: the same method in float64. xaikit must be as close to it as Captum is.
            exact = attribution.attribute(model64, x.double(), target, method, batch_size=bs, **params).double()
            scale = exact.flatten(1).abs().amax(1).clamp_min(1e-30).view(-1, 1, 1, 1)
            rel = (ours - ref).abs() / scale
            diff, typical = float(rel.max()), float(rel.median())
            err_ours = float(((ours.double() - exact).abs() / scale).max())
            err_captum = float(((ref.double() - exact).abs() / scale).max())
            assert typical < 1e-5 and err_ours <= 2 * err_captum + 1e-6, \
                f"{model_name} {name}: xaikit is {err_ours:.3g} from float64, Captum {err_captum:.3g}"
            attribution.attribute(model, x, target, method, batch_size=bs, cache=True, **params)   # writes once
            _, t_hit = C.timed(lambda: attribution.attribute(model, x, target, method, batch_size=bs, cache=True,
                                                             **params))
            row = dict(model=model_name, method=name, captum=cls, n_images=len(x),
                       channels_last=plan.channels_last, max_relative_difference=diff,
                       median_relative_difference=typical, xaikit_float32_error=err_ours,
                       captum_float32_error=err_captum,
                       xaikit_s=t["xaikit"], captum_s=t["captum"], cache_hit_s=t_hit,
                       xaikit_images_per_s=len(x) / t["xaikit"], captum_images_per_s=len(x) / t["captum"],
                       speedup_vs_captum=t["captum"] / t["xaikit"],
                       xaikit_fraction_of_best_forward=len(x) / t["xaikit"] / ceilings[model_name]["forward"][
                           "images_per_s"],
                       xaikit_fraction_of_forward_backward=len(x) / t["xaikit"] / ceilings[model_name][
                           "forward_backward_images_per_s"])
            rows.append(row)
            C.show([row], ["model", "method", "xaikit_s", "captum_s", "speedup_vs_captum", "cache_hit_s",
                           "xaikit_fraction_of_forward_backward", "max_relative_difference"])
    C.write(dict(machine=C.machine(), repeats=args.repeats, seed=args.seed, checkpoint=ckpt,
                 batch_size=bs, ceilings=ceilings, rows=rows), args.out, "bench_attribution")


if __name__ == "__main__":
    main()
