"""xaikit.apem: the visualisation pipeline, the exact and the authors' eps searches, APEM_norm, Algorithm 2."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from xaikit import apem, attribution, data, models


@pytest.fixture(scope="module")
def tiny():
    """An untrained small CNN on real ImageNet images shrunk to 32 px: cheap, and its flips are erratic."""
    torch.manual_seed(0)
    m = models.small_cnn(tuple(range(10)), in_channels=3, size=32, mean=(0.5,) * 3, std=(0.25,) * 3).eval()
    x = F.interpolate(data.load_imagenet_sample(6).images, size=32, mode="area")
    lab = m.predict(x).argmax(1)
    gs = apem.loss_gradient_sign(m, x, lab)
    r = apem.relevance_map(attribution.attribute(m, x, lab, "gradient"), x, "final")
    return m, x, lab, gs, r


@pytest.fixture(scope="module")
def real():
    m = models.load_model("efficientnet_lite0")
    d = data.load_imagenet_sample(2, start=2)
    lab = m.predict(d.images).argmax(1)
    gs = apem.loss_gradient_sign(m, d.images, lab)
    r = apem.relevance_map(attribution.attribute(m, d.images, lab, "gradient"), d.images, "final")
    return m, d.images, lab, gs, r


def test_pipeline_steps(tiny):
    m, x, lab, gs, r = tiny
    a = attribution.attribute(m, x, lab, "gradient")
    c = apem.clamp_abs(a)
    q = torch.quantile(a.abs().flatten(1), 0.99, dim=1)
    assert torch.allclose(c.flatten(1).amax(1), q, rtol=1e-5)
    r1, r2, r3 = (apem.relevance_map(a, x, s) for s in apem.STEPS)
    assert r1.shape == x.shape and r2.shape == r3.shape == (len(x), 1, 32, 32)
    for rr in (r1, r2, r3):
        assert rr.flatten(1).amin(1).eq(0).all() and rr.flatten(1).amax(1).eq(1).all()
        assert torch.equal(torch.round(rr * 255), rr * 255)  # 8-bit levels, like the authors' PNGs
    ref = apem.minmax((c * x).sum(1, keepdim=True), levels=None)
    assert (apem.relevance_map(a, x, "final", levels=None) - ref).abs().max() < 1e-6
    assert (r3 - ref).abs().max() <= 0.5 / 255 + 1e-6


def test_bad_input(tiny):
    m, x, lab, gs, r = tiny
    with pytest.raises(ValueError, match="constant"):
        apem.relevance_map(torch.zeros_like(x), x)  # all-zero attribution
    with pytest.raises(ValueError, match="all zero"):
        apem.directed(torch.zeros_like(r), gs)  # all-zero map: no APEM
    with pytest.raises(ValueError, match="all zero"):
        apem.eps_pair(m, x, torch.ones_like(r), lab, gs)  # R = 1 everywhere: irrelevance all zero
    with pytest.raises(ValueError, match="NaN"):
        apem.relevance_map(torch.full_like(x, float("nan")), x)
    with pytest.raises(ValueError, match="step"):
        apem.relevance_map(x, x, "nope")
    with pytest.raises(ValueError, match="shape"):
        apem.relevance_map(x[:, :1], x)
    with pytest.raises(ValueError, match="do not match"):
        apem.first_flip(m, x, gs[:, :, :8], lab)
    with pytest.raises(ValueError, match="paces"):
        apem.first_flip(m, x, gs, lab, paces=(10, 2))


def test_direction_is_l1_normalised_and_signed(tiny):
    m, x, lab, gs, r = tiny
    d = apem.directed(r, gs)
    full = gs.ne(0).flatten(1).all(1)  # images whose gradient sign has no zero
    assert full.any()
    # ||R_dir||_1 = 1 over all 3 H W values: eps is the L1 norm of the whole image change, as in the authors' code
    assert torch.allclose(d.abs().flatten(1).sum(1)[full], torch.tensor(1.0))
    assert torch.equal(d.sign() * (r > 0), gs * (r > 0))


def test_one_channel_map_means_what_the_authors_rgb_png_means(tiny):
    """The authors saved a 2-D map as an RGB PNG (three equal channels) and L1-normalised it over 3 H W values."""
    m, x, lab, gs, r = tiny
    rgb = r.repeat(1, 3, 1, 1)  # what ToTensor returns for their PNG
    want = rgb / rgb.flatten(1).abs().sum(1).view(-1, 1, 1, 1) * gs
    assert torch.allclose(apem.directed(r, gs), want)
    assert torch.allclose(apem.directed(rgb, gs), want)
    # per channel, each value is a third of the one-channel normalisation R / ||R||_H W
    assert torch.allclose(want, r / r.flatten(1).sum(1).view(-1, 1, 1, 1) / 3 * gs)


@pytest.mark.parametrize("batch_size", [1, 64])
def test_batched_search_equals_plain_scan_tiny(tiny, batch_size):
    m, x, lab, gs, r = tiny
    d = torch.cat([apem.directed(r, gs), apem.directed(apem.irrelevance(r), gs)]) * 2
    xx, ll = torch.cat([x, x]), torch.cat([lab, lab])
    got = apem.first_flip(m, xx, d, ll, max_eps=60, batch_size=batch_size)
    want = [apem.scan_first_flip(m, xx[i], d[i], int(ll[i]), 60) for i in range(len(xx))]
    assert got.tolist() == want
    assert len(set(want)) > 3  # not a trivial case


def test_groups_give_the_smallest_flip_of_the_group(tiny):
    m, x, lab, gs, r = tiny
    d = apem.directed(apem.shuffle_maps(r, 3, seed=1).flatten(0, 1), gs.repeat_interleave(3, 0)) * 2
    xs, ls = x.repeat_interleave(3, 0), lab.repeat_interleave(3, 0)
    single = apem.first_flip(m, xs, d, ls, max_eps=60).view(-1, 3)
    grouped = apem.first_flip(m, xs, d, ls, groups=torch.arange(len(x)).repeat_interleave(3), max_eps=60)
    assert grouped.tolist() == single.amin(1).tolist()


def test_authors_search_equals_their_loop_tiny(tiny):
    m, x, lab, gs, r = tiny
    d = apem.directed(r, gs) * 3
    got = apem.authors_search(m, x, d, lab, batch_size=16)
    want = [apem.authors_search_reference(m, x[i], d[i], int(lab[i])) for i in range(len(x))]
    assert got.tolist() == want


def test_batched_search_equals_plain_scan_real_model(real):
    m, x, lab, gs, r = real
    d = torch.cat([apem.directed(r, gs), apem.directed(apem.irrelevance(r), gs)])
    xx, ll = torch.cat([x, x]), torch.cat([lab, lab])
    plain, batched = apem.SearchStats(), apem.SearchStats()
    got = apem.first_flip(m, xx, d, ll, max_eps=30, batch_size=32, stats=batched)
    want = [apem.scan_first_flip(m, xx[i], d[i], int(ll[i]), 30, stats=plain) for i in range(len(xx))]
    assert got.tolist() == want
    assert any(w <= 30 for w in want)
    assert batched.forward_calls < plain.forward_calls


def test_shuffled_maps_keep_values_and_give_apem_near_zero(tiny):
    m, x, lab, gs, r = tiny
    s = apem.shuffle_maps(r, 10, seed=0)
    assert torch.equal(s.flatten(2).sort(2).values, r.flatten(1).sort(1).values.unsqueeze(1).expand(-1, 10, -1))
    assert torch.equal(apem.shuffle_maps(r, 10, seed=0), s)
    sm, sp = apem.shuffled_eps_pair(m, x, r, lab, gs, n_shuffles=10, max_eps=2000, paces=(100, 10, 1))
    diff = (sp - sm).float()
    assert diff.median().abs() <= 0.25 * torch.maximum(sm, sp).float().median()


def test_filter_never_lowers_apem_and_matches_algorithm_2(tiny):
    m, x, lab, gs, r = tiny
    for i in range(2):
        ri = apem.relevance_map(attribution.attribute(m, x[i:i + 1], lab[i:i + 1]), x[i:i + 1], "final",
                                levels=12)[0]  # few levels: the loop can run to its end
        f = apem.explanation_filter(m, x[i], ri, int(lab[i]), gs[i], lookahead=3, max_eps=3000,
                                    paces=(100, 10, 1))
        ref_map, ref_apem = apem.explanation_filter_reference(m, x[i], ri, int(lab[i]), gs[i], 3000, (100, 10, 1))
        assert torch.equal(f.map, ref_map) and f.apem == ref_apem
        assert f.apem >= f.apem_start
        apems = [b - a for a, b in f.trace]
        assert apems[:f.steps + 1] == sorted(apems[:f.steps + 1])  # non-decreasing up to the returned map
        assert (f.map > 0).sum() <= (ri > 0).sum()
        assert set(f.map.unique().tolist()) <= set(ri.unique().tolist())


def test_apem_and_apem_norm_arithmetic():
    assert apem.apem([2, 1], [4, 7]) == 4.0
    assert apem.apem_norm([2, 1], [4, 8], [2, 2], [4, 4]) == pytest.approx(((4 / 4 - 2 / 2) + (8 / 4 - 1 / 2)) / 2)
    assert apem.censored(torch.tensor([3, 101, 101]), 100) == 2


def test_same_seed_same_eps(tiny):
    m, x, lab, gs, r = tiny
    a = apem.shuffled_eps_pair(m, x[:2], r[:2], lab[:2], gs[:2], n_shuffles=3, seed=5, max_eps=60)
    b = apem.shuffled_eps_pair(m, x[:2], r[:2], lab[:2], gs[:2], n_shuffles=3, seed=5, max_eps=60)
    assert [t.tolist() for t in a] == [t.tolist() for t in b]


def test_apem_bounds_and_censor_aware_signs():
    b = apem.apem_bounds([5, 10001, 3, 10001], [10001, 50, 20, 10001], 10000)
    assert b.tolist() == [[9996, np.inf], [-np.inf, -9951], [17, 17], [-np.inf, np.inf]]
    ref = apem.apem_bounds([1, 1, 1, 1], [10, 10, 10, 10], 10000)
    assert apem.bound_sign(b, ref).tolist() == [1, -1, 1, 0]
    assert apem.bound_undecided(b, ref).tolist() == [False, False, False, True]
    same = apem.apem_bounds([1], [10], 10000)
    assert apem.bound_sign(same, same).tolist() == [0] and not apem.bound_undecided(same, same).any()


def test_dominance_is_cliffs_delta_with_an_interval():
    a = apem.apem_bounds([1, 1, 1], [10, 20, 30], 10000)
    b = apem.apem_bounds([1, 1], [5, 25], 10000)
    ci = apem.dominance(a, b, n_resamples=2000)
    # pairs: 9>4 +, 9<24 -, 19>4 +, 19<24 -, 29>4 +, 29>24 + -> (4 - 2) / 6
    assert ci.estimate == pytest.approx(2 / 6) and ci.low <= ci.estimate <= ci.high and ci.n == 5
    rel, ok = apem.relative_gap([10, 10001], [30, 5], 10000)
    assert rel[0] == pytest.approx(0.5) and ok.tolist() == [True, False]
