"""APEM, the Adversarial Perturbation Explanation Metric, and its explanation filter (Valle 2019, ch. 3-5).

Scale. Images are in [0, 1] (the model normalises inside), and so is the perturbation: x' = x + eps * R_dir with
R_dir = R / ||R||_1 * sign(grad_x J), as in the authors' code (danvalle/adversarial_metric, src/metric.py), whose
VGG-16 took [0, 1] images. ||R||_1 is always taken over all C x H x W values of the image: the authors saved a
one-channel map (steps (2), (3)) with torchvision's save_image, which writes a 2-D map as an RGB PNG with three
equal channels (make_grid repeats a single channel), read it back with ToTensor as (3, H, W) and divided by its L1
norm over all 3 H W values (src/utils.py `visualization`; src/metric.py, `rel = to_tensor(rel_img)` and
`rel_used /= rel_used.norm(p=1)`). A one-channel map is therefore repeated over the image's channels before the
L1 normalisation here too, so eps means what their eps means: the L1 norm of the whole change of the [0, 1] image,
summed over all 3 H W values (eps = 300 on 224 x 224 moves a value by 0.002 = 0.5/255 on average; on 32 x 32
CIFAR-10, eps = 30 moves a value by 0.01). x' is not clipped to [0, 1] (neither is it there). eps is an integer
>= 1: eps- is the smallest one that changes the prediction along the relevance map, eps+ the same along the
irrelevance map 1 - R; APEM = mean of eps+ - eps-.

Searches: `first_flip` (paces=(1,)) returns exactly what a plain scan eps = 1, 2, 3, ... returns
(`scan_first_flip`, kept for tests), but packs many candidate eps, of many maps, into each forward batch; it must
test every eps below the answer. `authors_search` is the authors' coarse-to-fine search (paces 1000, 100, 10, 1),
which can miss a first flip when the prediction flips back. A search that meets no flip up to `max_eps` returns
max_eps + 1 (censored; `censored()` counts them), like the authors' search up to 10,001.

All-zero maps: `relevance_map` raises on a constant attribution, and `directed`/`eps_pair` raise ValueError on
an all-zero R or 1 - R (R / ||R||_1 is undefined); the filter never zeroes the last positive level.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .models import forward_plan, predicted_class

STEPS = ("clamp", "map", "final")
STEP_NAMES = {"clamp": "(1) |a| clamped, 3 channels", "map": "(2) summed to one channel",
              "final": "(3) times the image, summed"}


# ---- the visualisation pipeline of section 4.2 ----------------------------------------------------------------

def _check(x, name="x", ndim=4):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions (N, C, H, W); got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")


def clamp_abs(attr: torch.Tensor, percentile: float = 99.0) -> torch.Tensor:
    """Step 1: |a| clamped at its `percentile` (over all C H W values of each map, numpy's linear percentile)."""
    _check(attr, "attr")
    a = attr.abs()
    q = torch.from_numpy(np.percentile(a.flatten(1).double().numpy(), percentile, axis=1)).to(a)
    return torch.minimum(a, q.view(-1, 1, 1, 1))


def minmax(r: torch.Tensor, levels: int | None = 255) -> torch.Tensor:
    """Scale each map to [0, 1] by its own min and max; `levels`=255 rounds as an 8-bit PNG does (the authors'
    maps were saved so: torchvision save_image(normalize=True)); None keeps floats. A constant map raises."""
    flat = r.flatten(1)
    lo, hi = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    if (hi - lo <= 0).any():
        bad = torch.nonzero((hi - lo <= 0).flatten()).flatten().tolist()
        raise ValueError(f"relevance maps {bad} are constant (e.g. an all-zero attribution): nothing to normalise")
    out = (flat - lo) / (hi - lo)
    if levels:
        out = torch.floor(out * levels + 0.5) / levels
    return out.view_as(r)


def relevance_map(attr: torch.Tensor, x: torch.Tensor, step: str = "final", percentile: float = 99.0,
                  levels: int | None = 255) -> torch.Tensor:
    """The map R in [0, 1] of section 4.2 after visualisation step `step`:

    'clamp' (1): |a| clamped at the 99th percentile -> (N, 3, H, W);
    'map'   (2): that, summed over channels -> (N, 1, H, W);
    'final' (3): that clamped |a| times the image, summed over channels -> (N, 1, H, W) (the paper's main map).
    Each is min-max normalised per map (and rounded to 8 bits unless levels=None).
    """
    _check(attr, "attr")
    _check(x, "x")
    if attr.shape != x.shape:
        raise ValueError(f"attr {tuple(attr.shape)} and x {tuple(x.shape)} must have the same shape")
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}: use one of {STEPS}")
    c = clamp_abs(attr, percentile)
    if step == "clamp":
        return minmax(c, levels)
    if step == "map":
        return minmax(c.sum(1, keepdim=True), levels)
    return minmax((c * x).sum(1, keepdim=True), levels)


# ---- directed perturbation ------------------------------------------------------------------------------------

def loss_gradient_sign(model, x: torch.Tensor, labels: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """sign(d CrossEntropy(model(x), label) / dx) at the [0, 1] image (the normalisation inside the model only
    scales channels by positive factors, so the sign is the same in the normalised space)."""
    _check(x)
    dev = next(model.parameters()).device
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(dev).clone().requires_grad_(True)
        loss = F.cross_entropy(model(xb), labels[i:i + batch_size].to(dev), reduction="sum")
        out.append(torch.autograd.grad(loss, xb)[0].sign().cpu())
    return torch.cat(out)


def l1_normalise(r: torch.Tensor) -> torch.Tensor:
    """R / ||R||_1 per map; an all-zero map has no direction and raises."""
    s = r.flatten(1).abs().sum(1)
    if (s <= 0).any():
        bad = torch.nonzero(s <= 0).flatten().tolist()
        raise ValueError(f"maps {bad} are all zero: R / ||R||_1 is undefined (APEM needs some relevance)")
    return r / s.view(-1, *[1] * (r.ndim - 1))


def to_image_channels(r: torch.Tensor, channels: int) -> torch.Tensor:
    """A one-channel map repeated over `channels` (what the authors' RGB PNG of a 2-D map holds); a map with
    `channels` channels is returned as it is."""
    if r.shape[1] == channels:
        return r
    if r.shape[1] != 1:
        raise ValueError(f"a map has 1 or {channels} channels, got {r.shape[1]}")
    return r.expand(-1, channels, *r.shape[2:])


def directed(r: torch.Tensor, grad_sign: torch.Tensor) -> torch.Tensor:
    """R_dir = R / ||R||_1 * sign(grad_x J), the L1 norm over all C H W values of the image: a one-channel R is
    repeated over the image's channels first (as the authors' RGB PNG maps were), so ||R_dir||_1 = 1 wherever
    the gradient sign is non-zero."""
    _check(r, "relevance map")
    if r.min() < 0:
        raise ValueError("relevance maps must be >= 0 (use relevance_map first)")
    return l1_normalise(to_image_channels(r, grad_sign.shape[1])) * grad_sign


def irrelevance(r: torch.Tensor) -> torch.Tensor:
    """R- = 1 - R (R in [0, 1])."""
    if r.min() < 0 or r.max() > 1:
        raise ValueError("relevance maps must lie in [0, 1] for the irrelevance 1 - R")
    return 1 - r


# ---- the exact eps search -------------------------------------------------------------------------------------

@dataclass
class SearchStats:
    forward_calls: int = 0
    images_forwarded: int = 0

    def add(self, other: "SearchStats"):
        self.forward_calls += other.forward_calls
        self.images_forwarded += other.images_forwarded


def _predict(model, xb, dev):
    return predicted_class(model, xb.to(dev), len(xb))


def scan_first_flip(model, x: torch.Tensor, d: torch.Tensor, label: int, max_eps: int = 10000,
                    stats: SearchStats | None = None) -> int:
    """The plain scan: eps = 1, 2, ... one forward each; the first eps with argmax != label (max_eps+1 if none)."""
    dev = next(model.parameters()).device
    for eps in range(1, max_eps + 1):
        pred = _predict(model, (x + eps * d).unsqueeze(0), dev)
        if stats is not None:
            stats.forward_calls += 1
            stats.images_forwarded += 1
        if int(pred) != int(label):
            return eps
    return max_eps + 1


def first_flip(model, x: torch.Tensor, d: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor | None = None,
               max_eps: int = 10000, paces: tuple = (1,), batch_size: int | None = None, min_chunk: int = 2,
               stats: SearchStats | None = None) -> torch.Tensor:
    """First flipping eps of many searches at once.

    x: (N, C, H, W) images; d: (N, C|1, H, W) directions; labels (N,). Row i asks for the smallest integer eps in
    1..max_eps with argmax model(x_i + eps d_i) != labels_i. Rows with the same `groups` id search together and
    share one answer: the smallest eps at which any of them flips (the shuffled maps of section 5.2).

    paces=(1,) (default) is exact: every eps below the answer is tested, so it returns what the plain scan
    returns. paces=(1000, 100, 10, 1) with max_eps=10000 is the authors' coarse-to-fine search: at each pace it
    steps on from the last passing eps until a flip, then refines; it can miss a flip that a coarser step jumped
    over (it assumes that once the prediction flips it stays flipped), and returns what their loop returns.

    Each forward batch holds about `batch_size` images (default: the model's `models.forward_plan`): every unfinished group gets its next `chunk` consecutive
    candidates (at least `min_chunk`). Returns (number of groups,) long in the order of the sorted unique group
    ids (= row order without groups); max_eps + 1 where nothing flipped.
    """
    _check(x)
    if d.ndim != 4 or d.shape[0] != x.shape[0] or d.shape[2:] != x.shape[2:] or d.shape[1] not in (1, x.shape[1]):
        raise ValueError(f"directions {tuple(d.shape)} do not match images {tuple(x.shape)}")
    if not torch.isfinite(d).all():
        raise ValueError("directions contain NaN or inf")
    labels = torch.as_tensor(labels).long().flatten()
    if len(labels) != len(x):
        raise ValueError(f"need one label per image: {len(labels)} for {len(x)}")
    if max_eps < 1:
        raise ValueError("max_eps must be >= 1")
    paces = tuple(int(p) for p in paces)
    if not paces or paces[-1] != 1 or any(p < 1 for p in paces):
        raise ValueError(f"paces must be positive and end with 1; got {paces}")
    groups = torch.arange(len(x)) if groups is None else torch.as_tensor(groups).long().flatten()
    ids, gidx = torch.unique(groups, return_inverse=True)
    rows = [torch.nonzero(gidx == g).flatten() for g in range(len(ids))]
    dev = next(model.parameters()).device
    batch_size = batch_size or forward_plan(model, tuple(x.shape[1:])).batch_size
    answer = torch.full((len(ids),), max_eps + 1, dtype=torch.long)
    # per group: last eps known to pass, pace index, eps known to flip (from a coarser pace) or None
    start, level, known = [0] * len(ids), [0] * len(ids), [None] * len(ids)
    active = list(range(len(ids)))
    while active:
        n_rows = sum(len(rows[g]) for g in active)
        chunk = max(min_chunk, batch_size // max(n_rows, 1))
        batch, plan, used = [], [], 0
        for g in active:  # fill one forward batch, oldest groups first
            if used and used + min_chunk * len(rows[g]) > batch_size:
                break
            p = paces[level[g]]
            stop = max_eps if known[g] is None else known[g] - p  # the known flip need not be re-tested
            n = min(chunk, (stop - start[g]) // p)
            if n > 0:
                eps = start[g] + p * torch.arange(1, n + 1, dtype=x.dtype)
                r = rows[g]
                xb = x[r].unsqueeze(0) + eps.view(-1, 1, 1, 1, 1) * d[r].unsqueeze(0)  # (n, rows, C, H, W)
                batch.append(xb.flatten(0, 1))
                used += n * len(r)
            plan.append((g, max(n, 0), len(rows[g])))
        flipped = torch.zeros(0, dtype=torch.bool)
        if batch:
            xb = torch.cat(batch)
            lab = torch.cat([labels[rows[g]].repeat(n) for g, n, _ in plan if n > 0])
            flipped = _predict(model, xb, dev) != lab
            if stats is not None:
                stats.forward_calls += 1
                stats.images_forwarded += len(xb)
        pos, done = 0, set()
        for g, n, k in plan:
            f = flipped[pos:pos + n * k].view(n, k).any(1) if n else torch.zeros(0, dtype=torch.bool)
            pos += n * k
            p = paces[level[g]]
            if f.any():
                hit = start[g] + p * (int(torch.nonzero(f)[0]) + 1)
            else:
                start[g] += n * p
                stop = max_eps if known[g] is None else known[g] - p
                if stop - start[g] >= p:
                    continue  # more candidates at this pace
                hit = known[g]  # None: no flip up to max_eps at this pace
            if p == 1:
                if hit is not None:
                    answer[g] = hit
                done.add(g)
            else:
                if hit is not None:
                    start[g] = hit - p
                known[g] = hit
                level[g] += 1
        active = [g for g in active if g not in done]
    return answer


def authors_search(model, x, d, labels, groups=None, max_eps=10000, paces=(1000, 100, 10, 1), **kw):
    """The coarse-to-fine search of the authors' code (paces 1000, 100, 10, 1 up to 10,000), batched."""
    return first_flip(model, x, d, labels, groups, max_eps=max_eps, paces=paces, **kw)


def authors_search_reference(model, x, d, label, max_eps=10000, paces=(1000, 100, 10, 1)) -> int:
    """The authors' loop as they wrote it (one image per forward; for tests)."""
    dev = next(model.parameters()).device
    start = 0
    for pace in paces:
        for eps in range(start, max_eps + 1, pace):
            if int(_predict(model, (x + eps * d).unsqueeze(0), dev)) == int(label):
                start = eps
            else:
                break
    return start + paces[-1]


def censored(eps: torch.Tensor, max_eps: int) -> int:
    """How many searches met no flip up to max_eps (their value max_eps + 1 is a lower bound)."""
    return int((torch.as_tensor(eps) > max_eps).sum())


# ---- APEM ----------------------------------------------------------------------------------------------------

def eps_pair(model, x, r, labels, grad_sign, **search):
    """(eps-, eps+) per image for relevance maps r (N, 1|C, H, W) in [0, 1], in one joint search; `search`
    goes to `first_flip` (max_eps, paces, batch_size, stats)."""
    d = torch.cat([directed(r, grad_sign), directed(irrelevance(r), grad_sign)])
    both = first_flip(model, torch.cat([x, x]), d, torch.cat([labels, labels]), **search)
    return both[:len(x)], both[len(x):]


def apem(eps_minus, eps_plus) -> float:
    """APEM = mean over images of eps+ - eps-."""
    return float((torch.as_tensor(eps_plus) - torch.as_tensor(eps_minus)).double().mean())


def shuffle_maps(r: torch.Tensor, n: int = 10, seed: int = 0) -> torch.Tensor:
    """n random permutations of the values of each map (over all its C H W values): (N, n, C, H, W)."""
    g = torch.Generator().manual_seed(seed)
    flat = r.flatten(1)
    perms = torch.stack([torch.stack([torch.randperm(flat.shape[1], generator=g) for _ in range(n)])
                         for _ in range(len(r))])  # (N, n, CHW)
    return torch.gather(flat.unsqueeze(1).expand(-1, n, -1), 2, perms).view(len(r), n, *r.shape[1:])


def shuffled_eps_pair(model, x, r, labels, grad_sign, n_shuffles=10, seed=0, **search):
    """(eps-shuffle-, eps-shuffle+) per image (section 5.2): the first eps at which any of `n_shuffles` shuffled
    relevance maps (resp. shuffled irrelevance maps, permuted independently) flips the prediction. As in the
    authors' code the normalised map (three channels, all 3 H W values permuted) is shuffled and the gradient sign
    is kept in place; unlike it, the shuffles
    are drawn once per image (seeded), not afresh at every eps, so the search is exact and reproducible."""
    n = len(x)
    r = to_image_channels(r, grad_sign.shape[1])  # their shuffles permute all 3 H W values of the RGB map
    rel = l1_normalise(shuffle_maps(r, n_shuffles, seed).flatten(0, 1))
    irr = l1_normalise(shuffle_maps(irrelevance(r), n_shuffles, seed + 1).flatten(0, 1))
    gs = grad_sign.repeat_interleave(n_shuffles, 0)
    xs = x.repeat_interleave(n_shuffles, 0)
    ls = labels.repeat_interleave(n_shuffles, 0)
    grp = torch.arange(2 * n).repeat_interleave(n_shuffles)
    both = first_flip(model, torch.cat([xs, xs]), torch.cat([rel * gs, irr * gs]), torch.cat([ls, ls]),
                      groups=grp, **search)
    return both[:n], both[n:]


def apem_norm(eps_minus, eps_plus, shuf_minus, shuf_plus) -> float:
    """APEM_norm = mean of eps+ / eps-shuffle+ - eps- / eps-shuffle- (section 5.2)."""
    t = lambda v: torch.as_tensor(v).double()  # noqa: E731
    return float((t(eps_plus) / t(shuf_plus) - t(eps_minus) / t(shuf_minus)).mean())


# ---- the explanation filter (Algorithm 2) ----------------------------------------------------------------------

def zero_minimum(r: torch.Tensor) -> torch.Tensor | None:
    """Algorithm 2, lines 6-7: zero every value equal to the smallest positive one; None when no positive value
    would be left (an all-zero map has no APEM)."""
    pos = r[r > 0]
    if len(pos) == 0 or (pos > pos.min()).sum() == 0:
        return None
    return torch.where(r == pos.min(), torch.zeros_like(r), r)


@dataclass
class FilterResult:
    map: torch.Tensor        # best_relevance_map, what Algorithm 2 returns
    apem: int                # its APEM (eps+ - eps-)
    apem_start: int          # APEM of the input map
    steps: int               # how many levels were zeroed
    trace: list              # (eps-, eps+) of every map evaluated, in order
    stopped: str             # 'apem dropped', 'one level left' or 'max_steps'


def explanation_filter(model, x: torch.Tensor, r: torch.Tensor, label: int, grad_sign: torch.Tensor,
                       lookahead: int = 4, max_steps: int | None = None, **search) -> FilterResult:
    """Algorithm 2 for one image x (C, H, W) and its map r (1|C, H, W): zero the smallest positive level of the
    map again and again while the APEM does not drop below the previous map's; return the last map before it drops.

    The candidate maps R_0, R_1, ... are fixed in advance (each zeroes one more level), so their APEMs are
    computed `lookahead` at a time in one joint search and scanned in order: the result is Algorithm 2's.
    `search` goes to `first_flip` (exact by default). The loop also ends when only one positive level is left (zeroing it would leave no relevance) or after
    `max_steps` zeroings (then `stopped` says so and the result is not Algorithm 2's)."""
    _check(x, "x", 3)
    maps, trace, apems, k = [r], [], [], 0
    while True:
        while len(maps) < k + lookahead + 1 and maps[-1] is not None:
            maps.append(zero_minimum(maps[-1]))
        todo = [m for m in maps[k:k + lookahead] if m is not None]
        n = len(todo)
        em, ep = eps_pair(model, x.expand(n, *x.shape), torch.stack(todo), torch.full((n,), int(label)),
                          grad_sign.expand(n, *grad_sign.shape), **search)
        for j in range(n):
            trace.append((int(em[j]), int(ep[j])))
            apems.append(int(ep[j] - em[j]))
            if k > 0 and apems[k] < apems[k - 1]:
                return FilterResult(maps[k - 1], apems[k - 1], apems[0], k - 1, trace, "apem dropped")
            if maps[k + 1] is None:
                return FilterResult(maps[k], apems[k], apems[0], k, trace, "one level left")
            if max_steps is not None and k >= max_steps:
                return FilterResult(maps[k], apems[k], apems[0], k, trace, "max_steps")
            k += 1


def explanation_filter_reference(model, x, r, label, grad_sign, max_eps=10000, paces=(1,)):
    """Algorithm 2 written as in the paper, one image per forward (slow; for tests)."""
    def one(m):
        d = directed(m.unsqueeze(0), grad_sign.unsqueeze(0))[0]
        di = directed(irrelevance(m).unsqueeze(0), grad_sign.unsqueeze(0))[0]
        return (authors_search_reference(model, x, di, label, max_eps, paces)
                - authors_search_reference(model, x, d, label, max_eps, paces))
    rel = r
    a = one(rel)
    while True:
        best, best_a = rel, a
        rel = zero_minimum(best)
        if rel is None:
            return best, best_a
        a = one(rel)
        if a < best_a:
            return best, best_a


# ---- helpers for the notebook ----------------------------------------------------------------------------------

def pick_sets(model, images: torch.Tensor, labels: torch.Tensor, n_correct: int, n_wrong: int, seed: int = 0,
              chunk: int = 32):
    """Walk the images in a seeded random order, predicting `chunk` at a time, until `n_correct` correctly and
    `n_wrong` wrongly classified ones are found. Returns (correct index, wrong index, predictions of both,
    number of images predicted)."""
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(images)))
    right, wrong, pred, seen = [], [], {}, 0
    for i in range(0, len(order), chunk):
        idx = order[i:i + chunk]
        p = model.predict(images[idx]).argmax(1)
        seen += len(idx)
        for j, pj in zip(idx.tolist(), p.tolist()):
            pred[j] = pj
            (right if pj == int(labels[j]) else wrong).append(j)
        if len(right) >= n_correct and len(wrong) >= n_wrong:
            break
    if len(right) < n_correct or len(wrong) < n_wrong:
        raise ValueError(f"only {len(right)} correct and {len(wrong)} wrong predictions in {len(images)} images")
    right, wrong = right[:n_correct], wrong[:n_wrong]
    return (torch.tensor(right, dtype=torch.long), torch.tensor(wrong, dtype=torch.long),
            torch.tensor([pred[j] for j in right]), torch.tensor([pred[j] for j in wrong]), seen)


def pairwise(a: torch.Tensor, b: torch.Tensor) -> dict:
    """Fractions of images where APEM a is better (>), equal or worse (<) than b (Fig. 4.4)."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    n = len(a)
    return {"better": float((a > b).sum()) / n, "equal": float((a == b).sum()) / n, "worse": float((a < b).sum()) / n}


# ---- comparisons that a search cap cannot distort ---------------------------------------------------------------

def apem_bounds(eps_minus, eps_plus, max_eps: int) -> np.ndarray:
    """What is known of each image's APEM when searches can stop at the cap: (N, 2) array of [low, high].

    A search that met no flip up to `max_eps` (value max_eps + 1) only says eps >= max_eps + 1. So eps+ censored:
    APEM >= eps+ - eps- (high = inf); eps- censored and eps+ found: APEM <= eps+ - (max_eps + 1) (low = -inf);
    both censored: nothing is known (-inf, inf). Otherwise low = high = eps+ - eps-."""
    em = np.asarray(torch.as_tensor(eps_minus), dtype=float).ravel()
    ep = np.asarray(torch.as_tensor(eps_plus), dtype=float).ravel()
    if em.shape != ep.shape:
        raise ValueError(f"eps- and eps+ need the same length, got {em.shape} and {ep.shape}")
    cm, cp = em > max_eps, ep > max_eps
    gap = ep - em
    low = np.where(cm, -np.inf, gap)
    high = np.where(cp, np.inf, gap)
    return np.stack([low, high], 1)


def bound_sign(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per unit, the sign of a - b for values known as [low, high] bounds (`apem_bounds`): +1 where a is surely
    larger, -1 where surely smaller, 0 where both are the same known value or the bounds overlap (undecided)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape[-1] != 2 or b.shape[-1] != 2:
        raise ValueError(f"need (..., 2) bounds, got {a.shape} and {b.shape}")
    return np.where(a[..., 0] > b[..., 1], 1.0, np.where(a[..., 1] < b[..., 0], -1.0, 0.0))


def bound_undecided(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Units where `bound_sign` is 0 only because a cap hides the order (not because the values are equal)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    exact = (a[..., 0] == a[..., 1]) & (b[..., 0] == b[..., 1])
    return (bound_sign(a, b) == 0) & ~exact


def dominance(a, b, *, n_resamples: int = 10_000, level: float = 0.95, seed: int = 0):
    """Two independent groups (e.g. correctly and wrongly classified images): the mean over all pairs (i, j) of
    bound_sign(a_i, b_j), in [-1, 1] (Cliff's delta; > 0 when a tends to be larger), with a percentile interval
    from resampling each group on its own. a, b: (n, 2) bounds (`apem_bounds`). Returns a `stats.Interval`."""
    from . import stats
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != 2 or b.shape[1] != 2 or not len(a) or not len(b):
        raise ValueError(f"need (n, 2) bounds for both groups, got {a.shape} and {b.shape}")
    s = bound_sign(a[:, None, :], b[None, :, :])  # (na, nb)
    est = float(s.mean())
    rng = np.random.default_rng(seed)
    boot = np.empty(n_resamples)
    na, nb = len(a), len(b)
    for k in range(n_resamples):  # mean of s over resampled rows x columns = counts_a @ s @ counts_b / (na nb)
        ca = np.bincount(rng.integers(0, na, na), minlength=na)
        cb = np.bincount(rng.integers(0, nb, nb), minlength=nb)
        boot[k] = ca @ s @ cb / (na * nb)
    return stats.percentile_interval(est, boot, len(a) + len(b), level=level, method="percentile, two groups")


def relative_gap(eps_minus, eps_plus, max_eps: int) -> tuple[np.ndarray, np.ndarray]:
    """(eps+ - eps-) / (eps+ + eps-) per image, in (-1, 1) whatever the model's eps scale, and the mask of images
    where it is known (neither search censored)."""
    em = np.asarray(torch.as_tensor(eps_minus), dtype=float).ravel()
    ep = np.asarray(torch.as_tensor(eps_plus), dtype=float).ravel()
    ok = (em <= max_eps) & (ep <= max_eps)
    return (ep - em) / (ep + em), ok
