"""ROAR and KAR (Hooker et al. 2019, as described in Loreth 2023, section 4.4).

Rank the pixels of every image by its attribution map, replace the top fraction t (ROAR, "remove") or all but
the top fraction t (KAR, "keep") with the per-channel mean of the training set, retrain the same architecture
from scratch on the modified training set and evaluate it on the equally modified test set.

Choices (stated so a reader can change them):
- a pixel's importance is |attribution| summed over channels (`to_2d(maps, "abs_sum")`); all channels of a
  pixel are replaced together (Hooker et al.'s code ranks the 3 channels of a pixel independently);
- ties (flat maps, Sobel's zero background) are broken at random with a fixed seed, not by pixel position;
- rankings are stored as per-pixel ranks (0 = most important), so a mask for any t is `ranks < round(t * H * W)`
  and holds exactly that many pixels.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch import nn

from . import attribution, runtime, training
from .models import count_forward
from .runtime import progress, seeded

MODES = ("roar", "kar")
FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)

# estimator -> (xaikit attribution method, default parameters). Hooker et al.: IG 25 steps, black baseline;
# SmoothGrad noise 0.15 of the input range, 25 samples (ORIGINAL_CODE_FACTS.md).
ESTIMATORS = {
    "gradient": ("gradient", {}),
    "integrated_gradients": ("integrated_gradients", {"baselines": "black", "n_steps": 25}),
    "guided_backprop": ("guided_backprop", {}),
    "smoothgrad_sq": ("smoothgrad_sq", {"noise_level": 0.15, "n_samples": 25}),
    "vargrad": ("vargrad", {"noise_level": 0.15, "n_samples": 25}),
    "random": ("random", {}),
    "sobel": ("sobel", {}),
}
# Estimators whose ranking is redrawn for every training seed: one fixed random ranking per image and seed, used
# in every epoch, exactly round(t * H * W) whole pixels. Hooker et al.'s random baseline differs: per-element
# dropout with keep probability t, redrawn each time an image is read (a new mask every epoch, a binomial count
# of elements, the three channels of a pixel drawn independently).
PER_SEED = ("random",)


def cache_dir() -> Path:
    return runtime.cache_dir("roar")


def _check_fraction(fraction: float) -> float:
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    return fraction


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def pixel_scores(maps: torch.Tensor, how: str = "abs_sum") -> torch.Tensor:
    """(N, C, H, W) attribution maps -> (N, H, W) pixel importance (default: |a| summed over channels)."""
    if not torch.isfinite(maps).all():
        raise ValueError("attribution maps contain NaN or inf")
    return attribution.to_2d(maps, how)


def ranks(scores: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Per-pixel rank, 0 = most important, as int32 (N, H, W); ties broken by a seeded random order."""
    if scores.ndim != 3:
        raise ValueError(f"scores must be (N, H, W); got {tuple(scores.shape)}")
    if not torch.isfinite(scores).all():
        raise ValueError("scores contain NaN or inf")
    n, h, w = scores.shape
    flat = scores.reshape(n, h * w).float()
    g = torch.Generator().manual_seed(seed)
    shuffle = torch.rand(n, h * w, generator=g).argsort(1)           # random order among equal scores
    order = shuffle.gather(1, torch.sort(flat.gather(1, shuffle), dim=1, descending=True, stable=True).indices)
    r = torch.empty(n, h * w, dtype=torch.int32)
    r.scatter_(1, order, torch.arange(h * w, dtype=torch.int32).expand(n, -1).contiguous())
    return r.view(n, h, w)


def n_pixels(fraction: float, n_total: int) -> int:
    """How many pixels a fraction of an image means: round(fraction * n_total)."""
    return int(round(_check_fraction(fraction) * n_total))


def removal_mask(rank: torch.Tensor, fraction: float, mode: str) -> torch.Tensor:
    """Boolean (N, 1, H, W): True where a pixel is replaced. ROAR: the top `fraction`; KAR: all but the top."""
    _check_mode(mode)
    if rank.ndim != 3:
        raise ValueError(f"ranks must be (N, H, W); got {tuple(rank.shape)}")
    top = rank < n_pixels(fraction, rank.shape[1] * rank.shape[2])
    return (top if mode == "roar" else ~top).unsqueeze(1)


def dataset_mean(x: torch.Tensor) -> torch.Tensor:
    """Per-channel mean (C,) of images (N, C, H, W)."""
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W); got {tuple(x.shape)}")
    return x.double().mean((0, 2, 3)).float()


def modify(x: torch.Tensor, rank: torch.Tensor, fraction: float, mode: str, mean: torch.Tensor) -> torch.Tensor:
    """Images with the pixels `removal_mask` selects replaced by the per-channel `mean` (a new tensor)."""
    if x.ndim != 4 or rank.shape != (x.shape[0],) + tuple(x.shape[2:]):
        raise ValueError(f"ranks {tuple(rank.shape)} do not match images {tuple(x.shape)}")
    mean = torch.as_tensor(mean, dtype=x.dtype).flatten()
    if mean.numel() != x.shape[1]:
        raise ValueError(f"mean has {mean.numel()} values for {x.shape[1]} channels")
    mask = removal_mask(rank, fraction, mode)
    return torch.where(mask, mean.view(1, -1, 1, 1), x)


def estimator_ranks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, estimator: str, params: dict | None = None,
                    seed: int = 0, batch_size: int = 64, cache: bool = True, tag: str = "") -> tuple:
    """Ranks (N, H, W) of images x by `estimator` w.r.t. classes y, cached on disk under `cache_dir()`.

    The cache key holds the model's weights, the images, labels, method, parameters, seed, batch size and memory
    format, so a changed model, data set or forward plan never reads a stale file. Returns (ranks, info) with info: computed or loaded, seconds,
    forward passes (each one followed by one backward pass for the gradient methods; none for random, Sobel).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; known: {sorted(ESTIMATORS)}")
    method, defaults = ESTIMATORS[estimator]
    params = {**defaults, **(params or {})}
    # the memory format attribution uses (the forward plan's) moves gradients in their last bits, and so ties of
    # the ranks: a file written under another plan must not be read
    layout = attribution.uses_channels_last(model, x, method)
    key = runtime.digest(model, x, y, method, params, seed, batch_size, layout, runtime.versions())
    path = cache_dir() / f"{tag + '_' if tag else ''}{estimator}_{key}.pt"
    if cache and path.is_file():
        saved = torch.load(path, weights_only=True)
        return saved["ranks"], dict(saved["info"], loaded_from=str(path))
    t0 = time.perf_counter()
    scores = []
    with count_forward(model) as c:
        # chunks of 4096 images: only (N, H, W) scores are kept, never all (N, C, H, W) maps (Food-101 scale)
        for i in range(0, len(x), 4096):
            maps = attribution.attribute(model, x[i:i + 4096], y[i:i + 4096], method, batch_size=batch_size,
                                         seed=seed + i, **params)
            scores.append(pixel_scores(maps))
    r = ranks(torch.cat(scores), seed=seed)
    info = dict(estimator=estimator, method=method, params=params, seed=seed, n_images=len(x),
                seconds=time.perf_counter() - t0, **c.as_dict())
    if cache:
        runtime.save_atomic({"ranks": r, "info": info}, path)
    return r, info


def train_and_evaluate(make_model, x_train, y_train, x_test, y_test, seed: int, train_kw: dict | None = None,
                       checkpoint: str | Path | None = None, keep_model: bool = False,
                       keep_predictions: bool = False) -> dict:
    """A fresh model from `make_model()` (initialised under `seed`), trained on (x_train, y_train) with
    `xaikit.training.train` under the same seed, and its accuracy on (x_test, y_test); with `keep_model`, the
    trained model too (key 'model'); with `keep_predictions`, its predicted class per test image (key
    'predictions', int64 tensor; the same single pass over the test images gives the accuracy)."""
    with seeded(seed):
        model = make_model()
    with count_forward(model) as c:
        hist = training.train(model, x_train, y_train, seed=seed, checkpoint=checkpoint, show_progress=False,
                              **(train_kw or {}))
        pred = predictions(model, x_test)
    acc = int((pred == torch.as_tensor(y_test).cpu()).sum()) / len(y_test) if len(y_test) else 0.0
    out = dict(accuracy=acc, epochs_run=hist["epochs_run"], loaded="loaded_from" in hist, **c.as_dict())
    if keep_predictions:
        out["predictions"] = pred
    return dict(out, model=model) if keep_model else out


def predictions(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Predicted class per image (eval mode, the model's forward plan), as `training.accuracy` computes it."""
    from .models import logits
    model.eval()
    if len(x) == 0:
        return torch.zeros(0, dtype=torch.long)
    return logits(model, x).argmax(1)


def mask_images(rank: torch.Tensor, fraction: float, mode: str) -> torch.Tensor:
    """The removal mask as a 1-channel image (N, 1, H, W): 1.0 where `modify` replaces a pixel, 0.0 elsewhere.
    A model trained on these alone sees nothing of the image but where the estimator put its ranking: the
    control for "the mask itself carries the class"."""
    return removal_mask(rank, fraction, mode).float()


def agreement(pred: torch.Tensor, base_pred: torch.Tensor, labels: torch.Tensor) -> dict:
    """How retrained predictions relate to the ranking model's predictions and to the labels.

    On all test images: `with_labels` (= accuracy) and `with_base`. On the images the ranking model got
    wrong (its prediction is not the label), where the two differ: `wrong_follow_base` (retrained model
    predicts the ranking model's wrong class), `wrong_follow_label` (it predicts the true label) and their
    difference `wrong_base_minus_label`. A mask that encodes the ranking model's predicted class pulls the
    retrained model toward that class, also where it is wrong."""
    pred, base_pred, labels = (torch.as_tensor(t).cpu().long() for t in (pred, base_pred, labels))
    if not (pred.shape == base_pred.shape == labels.shape):
        raise ValueError(f"shapes differ: {tuple(pred.shape)}, {tuple(base_pred.shape)}, {tuple(labels.shape)}")
    wrong = base_pred != labels
    nw = int(wrong.sum())
    fb = float((pred[wrong] == base_pred[wrong]).float().mean()) if nw else float("nan")
    fl = float((pred[wrong] == labels[wrong]).float().mean()) if nw else float("nan")
    return dict(with_labels=float((pred == labels).float().mean()), with_base=float((pred == base_pred).float().mean()),
                n_base_wrong=nw, wrong_follow_base=fb, wrong_follow_label=fl, wrong_base_minus_label=fb - fl)


def benchmark(make_model, train: tuple, test: tuple, ranks_train: dict, ranks_test: dict, mean: torch.Tensor,
              fractions=FRACTIONS, modes=MODES, seeds=(0, 1), train_kw: dict | None = None,
              checkpoint_dir: str | Path | None = None, desc: str = "retrain",
              keep_predictions: bool = False) -> list[dict]:
    """The ROAR / KAR grid: for every estimator, mode, fraction and seed, modify train and test images, retrain
    from scratch and evaluate. `ranks_*[estimator]` is a (N, H, W) rank tensor, or a dict seed -> ranks for
    estimators redrawn per seed (random). Also trains on the unmodified data once per seed (estimator
    'none', fraction 0). Returns one row per training (with `keep_predictions`, each row carries the retrained
    model's test predictions under 'predictions')."""
    (x_tr, y_tr), (x_te, y_te) = train, test
    if set(ranks_train) != set(ranks_test):
        raise ValueError("ranks_train and ranks_test must name the same estimators")
    jobs = [("none", "roar", 0.0, s) for s in seeds]
    jobs += [(e, m, f, s) for e in ranks_train for m in modes for f in fractions for s in seeds]
    rows = []
    for est, mode, frac, seed in progress(jobs, desc=desc):
        if est == "none":
            xa, xb = x_tr, x_te
        else:
            rt, re = ranks_train[est], ranks_test[est]
            rt, re = (rt[seed], re[seed]) if isinstance(rt, dict) else (rt, re)
            xa, xb = modify(x_tr, rt, frac, mode, mean), modify(x_te, re, frac, mode, mean)
        ckpt = None
        if checkpoint_dir is not None:
            ckpt = Path(checkpoint_dir) / f"{desc}_{est}_{mode}_{frac:g}_s{seed}.pt"
        out = train_and_evaluate(make_model, xa, y_tr, xb, y_te, seed, train_kw, ckpt,
                                 keep_predictions=keep_predictions)
        rows.append(dict(estimator=est, mode=mode, fraction=frac, seed=seed, **out))
    return rows


def without_retraining(model, x_test, y_test, ranks_test: dict, mean: torch.Tensor,
                       fractions=FRACTIONS, modes=MODES, seeds=(0,)) -> list[dict]:
    """The variant the thesis argues against: a model trained on unmodified images, evaluated on modified test
    images (no retraining). `model`: one model, or a dict seed -> model (the base model trained under each seed,
    so that every seed's row pairs with the retrained row of the same seed). Estimators redrawn per seed
    (dict ranks) use that seed's ranking. Rows carry the seed, or None for one model and a fixed ranking."""
    per_seed = isinstance(model, dict)
    if per_seed and set(seeds) - set(model):
        raise ValueError(f"no model for seeds {sorted(set(seeds) - set(model))}")
    rows = []
    for est, r in ranks_test.items():
        for seed in (seeds if (per_seed or isinstance(r, dict)) else (None,)):
            rr = r[seed] if isinstance(r, dict) else r
            m = model[seed] if per_seed else model
            for mode in modes:
                for frac in fractions:
                    acc = training.accuracy(m, modify(x_test, rr, frac, mode, mean), y_test)
                    rows.append(dict(estimator=est, mode=mode, fraction=frac, seed=seed, accuracy=acc))
    return rows


def summarize(rows: list[dict]):
    """Mean and standard deviation (over seeds, ddof=1 where there are two or more) per estimator, mode, fraction."""
    import pandas as pd
    df = pd.DataFrame(rows)
    g = df.groupby(["estimator", "mode", "fraction"])["accuracy"]
    return pd.DataFrame({"mean": g.mean(), "std": g.std().fillna(0.0), "n": g.count()}).reset_index()


def seed_differences(rows: list[dict], estimator: str, mode: str = "roar", baseline: str = "random",
                     fractions=None) -> dict:
    """Paired differences to a baseline, one per training seed: accuracy(estimator) - accuracy(baseline) at the
    same seed and fraction, then the mean over fractions.

    Under ROAR a negative difference means the estimator removed more of what the model needs than the baseline
    (better); under KAR a positive one means it kept more of it (better). Returns seeds, the per-seed means
    (`values`, the units an interval over seeds is computed from) and the (seeds, fractions) matrix `by_fraction`.
    Raises when a (seed, fraction) cell is missing or duplicated on either side."""
    def cells(est):
        out = {}
        for r in rows:
            if r["estimator"] == est and r["mode"] == mode and (fractions is None or r["fraction"] in fractions):
                key = (r["seed"], r["fraction"])
                if key in out:
                    raise ValueError(f"{est} {mode}: two rows for seed {key[0]}, fraction {key[1]}")
                out[key] = r["accuracy"]
        return out
    a, b = cells(estimator), cells(baseline)
    if not a or set(a) != set(b):
        raise ValueError(f"{estimator} and {baseline} ({mode}) must cover the same (seed, fraction) cells; "
                         f"got {sorted(a)} and {sorted(b)}")
    seeds = sorted({k[0] for k in a})
    fr = sorted({k[1] for k in a})
    if len(a) != len(seeds) * len(fr):
        raise ValueError(f"{estimator} ({mode}): incomplete seed x fraction grid")
    m = [[a[(s, f)] - b[(s, f)] for f in fr] for s in seeds]
    return dict(seeds=seeds, fractions=fr, by_fraction=m, values=[sum(x) / len(x) for x in m])


def seed_means(rows: list[dict], estimator: str, mode: str) -> dict:
    """Per seed: mean accuracy over fractions of one estimator and mode (seed -> value)."""
    acc = {}
    for r in rows:
        if r["estimator"] == estimator and r["mode"] == mode:
            acc.setdefault(r["seed"], []).append(r["accuracy"])
    return {s: sum(v) / len(v) for s, v in sorted(acc.items())}


def load(name: str, n_train: int | None, n_test: int | None, seed: int = 0, root=None, **model_kw):
    """(train Data, test Data, make_model) for 'fashion_mnist' / 'cifar10' (offline, small CNNs of
    xaikit.models) or 'mnist' / 'food101' (torchvision downloads, ResNet-50 from scratch: the paper profile)."""
    from . import data, models
    if name == "fashion_mnist":
        tr, te = (data.load_fashion_mnist(s, n, seed, root) for s, n in (("train", n_train), ("test", n_test)))
        return tr, te, lambda: models.small_cnn(tr.classes, **model_kw)
    if name == "cifar10":
        tr, te = (data.load_cifar10(s, n, seed, root) for s, n in (("train", n_train), ("test", n_test)))
        return tr, te, lambda: models.cifar_cnn(tr.classes, **model_kw)
    if name == "mnist":
        tr, te = (data.load_mnist(s, n, seed, root) for s, n in (("train", n_train), ("test", n_test)))
        return tr, te, lambda: resnet50_from_scratch(tr.classes, 1, (0.1307,), (0.3081,))
    if name == "food101":
        from torchvision import transforms as T
        tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()])
        out = []
        for split, n in (("train", n_train), ("test", n_test)):
            ds = data.food101(split, root, transform=tf)
            x, y = materialize(ds, n, seed)
            out.append(data.Data(x, y, tuple(ds.classes), f"Food-101 {split} (torchvision), resize 256, "
                                                          f"centre crop 224, {len(y)} images, seed {seed}"))
        tr, te = out
        return tr, te, lambda: resnet50_from_scratch(tr.classes, 3, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    raise ValueError(f"unknown data set {name!r}: use 'fashion_mnist', 'cifar10', 'mnist' or 'food101'")


def resnet50_from_scratch(classes, in_channels: int = 3, mean=(0.5,), std=(0.5,)):
    """torchvision's ResNet-50, randomly initialised (Hooker et al. retrain it from scratch), on [0, 1] images;
    a 1-channel first convolution for MNIST."""
    import torchvision
    from .models import ImageClassifier
    net = torchvision.models.resnet50(weights=None, num_classes=len(classes))
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    mean = tuple(mean) * (in_channels if len(mean) == 1 else 1)
    std = tuple(std) * (in_channels if len(std) == 1 else 1)
    return ImageClassifier(net, mean, std, "resnet50", classes, "net.layer4", "untrained", 224)


def materialize(dataset, n: int | None = None, seed: int = 0, batch_size: int = 256):
    """(images, labels) tensors from a torchvision dataset whose transform yields (C, H, W) tensors in [0, 1]
    (e.g. Food-101 with Resize(256), CenterCrop(224), ToTensor); `n` drawn at random with `seed`."""
    idx = torch.arange(len(dataset))
    if n is not None and n < len(dataset):
        idx = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, idx.tolist()), batch_size=batch_size,
                                         num_workers=min(8, os.cpu_count() or 1))
    xs, ys = zip(*[(x, y) for x, y in progress(loader, desc="load")])
    return torch.cat(xs), torch.cat(ys).long()


ESTIMATOR_STYLE = {  # colour, line style; baselines dashed
    "gradient": ("tab:blue", "-"), "integrated_gradients": ("tab:orange", "-"), "guided_backprop": ("tab:green", "-"),
    "smoothgrad_sq": ("tab:red", "-"), "vargrad": ("tab:purple", "-"), "random": ("black", "--"),
    "sobel": ("tab:gray", ":"),
}


ESTIMATOR_LABEL = {
    "gradient": "Gradient", "integrated_gradients": "Integrated Gradients", "guided_backprop": "Guided Backprop",
    "smoothgrad_sq": "SmoothGrad²", "vargrad": "VarGrad", "random": "random (baseline)", "sobel": "Sobel edges",
}


def plot_curves(ax, summary, mode: str, reference: float | None = None, title: str = "", band: bool = True,
                chance: float | None = None):
    """Accuracy against the fraction removed (ROAR) or kept (KAR): one line per estimator (in ESTIMATORS' order,
    readable names), band = mean +- std; `reference`: the base models' accuracy on unmodified images (solid
    grey line); `chance`: 1 / classes (dotted line)."""
    s = summary[(summary["mode"] == mode) & (summary["estimator"] != "none")]
    order = [e for e in ESTIMATORS if e in set(s["estimator"])] + sorted(set(s["estimator"]) - set(ESTIMATORS))
    for est in order:
        g = s[s["estimator"] == est].sort_values("fraction")
        c, ls = ESTIMATOR_STYLE.get(est, (None, "-"))
        f = g["fraction"].to_numpy() * 100
        ax.plot(f, g["mean"], ls, color=c, marker="o", ms=3, label=ESTIMATOR_LABEL.get(est, est))
        if band and (g["n"] > 1).any():
            ax.fill_between(f, g["mean"] - g["std"], g["mean"] + g["std"], color=c, alpha=0.15, lw=0)
    if reference is not None:
        ax.axhline(reference, color="0.4", lw=1.0, label=f"base models, unmodified images ({reference:.2f})")
    if chance is not None:
        ax.axhline(chance, color="0.4", lw=1.0, ls=":", label=f"chance ({chance:.2f})")
    ax.set_xlabel(f"% of pixels {'removed (ROAR)' if mode == 'roar' else 'kept (KAR)'}")
    ax.set_ylabel("test accuracy")
    ax.set_xticks([10, 30, 50, 70, 90])
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
