"""XRAI: the greedy region order on hand-made inputs, PAIR's own implementation on a real image, the
trajectory of masks, the registered attribution method and bad input."""
import numpy as np
import pytest
import torch
from scipy import ndimage

from xaikit import attribution, data, models, xrai


@pytest.fixture(scope="module")
def image():
    return data.load_imagenet_sample(1).images[0]


@pytest.fixture(scope="module")
def smooth_attr():
    rng = np.random.default_rng(3)
    return ndimage.gaussian_filter(rng.normal(size=(224, 224, 3)), (6, 6, 0))


def test_greedy_picks_the_densest_uncovered_part_first():
    a = np.zeros((20, 20))
    a[:10, :10] = 1.0          # dense block
    a[10:, 10:] = 0.5
    masks = np.zeros((3, 20, 20), bool)
    masks[0, :10, :] = True     # half dense, half zero: mean 0.5
    masks[1, :10, :10] = True   # mean 1.0
    masks[2, 10:, :] = True     # mean 0.25
    r = xrai.regions(a, masks, min_pixel_diff=1)
    # mask 1 first; then mask 0 adds only its right half (mean 0), mask 2 (mean 0.25) wins over it
    assert r.gains.tolist() == [1.0, 0.25, 0.0]
    assert set(r.regions[0]) == set(np.flatnonzero(masks[1]))
    assert set(r.regions[2]) == set(np.flatnonzero(masks[0] & ~masks[1]))
    assert r.ranks[0, 0] == 1 and r.ranks[15, 0] == 2 and r.ranks[0, 15] == 3
    assert np.allclose(r.heatmap[masks[1]], 1.0) and np.allclose(r.heatmap[10:, :], 0.25)


def test_min_pixel_diff_drops_small_additions_and_leftover_gets_its_mean():
    a = np.arange(100.0).reshape(10, 10)
    masks = np.zeros((2, 10, 10), bool)
    masks[0, :5] = True
    masks[1, :6] = True          # adds 10 pixels after mask 0 ... below min_pixel_diff=20
    r = xrai.regions(a, masks, min_pixel_diff=20)
    assert len(r.regions) == 2   # mask 1 (60 pixels, mean 29.5) first, then the leftover
    assert r.gains[0] == pytest.approx(a[:6].mean())
    assert r.gains[-1] == pytest.approx(a[6:].mean())
    t = r.trajectory()
    assert t[-1].all()


def test_region_order_equals_pairs_saliency_package(image, smooth_attr):
    from saliency.core.xrai import XRAI, XRAIParameters
    x = image.permute(1, 2, 0).double().numpy()
    p = XRAIParameters()
    p.return_xrai_segments = True
    ref = XRAI().GetMaskWithDetails(x, None, base_attribution=smooth_attr, extra_parameters=p)
    ours = xrai.explain(image, smooth_attr)
    assert ours.ranks.max() > 20                      # a real ordering, not one region
    np.testing.assert_array_equal(ours.ranks, ref.segments)
    np.testing.assert_allclose(ours.heatmap, ref.attribution_mask, rtol=0, atol=1e-12)


def test_segments_equal_pairs(image):
    from saliency.core.xrai import _get_segments_felzenszwalb
    ref = _get_segments_felzenszwalb(image.permute(1, 2, 0).double().numpy())
    ours = xrai.segments(image)
    assert len(ours) == len(ref)
    assert all((a == b).all() for a, b in zip(ours, ref))


@pytest.mark.skipif(xrai.numba is None, reason="numba not installed")
def test_felzenszwalb_engine_equals_scikit_image():
    from skimage.segmentation import felzenszwalb
    d = data.load_imagenet_sample(3, start=100)
    cases = [(xrai._prepare(x, xrai.SEG_SIZE)[0], xrai.SCALES, 0.8, 150) for x in d.images]
    x = d.images[0].permute(1, 2, 0).double().numpy()
    cases += [(x[10:110, 30:180], (20, 300), 0.5, 30),          # not square, other settings
              (x[::2, ::2].mean(-1), (100,), 1.0, 10)]            # one channel
    for im, scales, sigma, min_size in cases:
        ours = xrai.felzenszwalb_scales(im, scales, sigma, min_size, engine="numba")
        assert ours.shape == (len(scales),) + im.shape[:2]
        for s, o in zip(scales, ours):
            ref = felzenszwalb(im if im.ndim == 3 else im[..., None], scale=s, sigma=sigma, min_size=min_size)
            assert ref.max() > 3
            np.testing.assert_array_equal(o, ref)
    with pytest.raises(ValueError, match="unknown Felzenszwalb engine"):
        xrai.felzenszwalb_scales(x, engine="opencv")


def test_segments_many_equals_one_by_one_for_any_thread_count():
    d = data.load_imagenet_sample(3, start=7)
    one = [xrai.segments(x, engine="skimage") for x in d.images]
    for workers in (1, 3):
        many = xrai.segments_many(list(d.images), workers=workers)
        assert all(np.array_equal(a, b) for a, b in zip(one, many))


def test_trajectory_grows_monotonically_and_ends_covering_the_image(image, smooth_attr):
    r = xrai.explain(image, smooth_attr)
    t = r.trajectory()
    assert t.shape == (len(r.regions), 224, 224)
    assert (t[1:] >= t[:-1]).all()                    # M_t subset of M_t+1
    assert (t[1:].sum((1, 2)) > t[:-1].sum((1, 2))).all()   # strictly growing
    assert t[-1].all()
    # the regions partition the image
    assert sum(len(i) for i in r.regions) == 224 * 224
    # ranks by gain: the rank-1 region has the highest gain
    assert r.heatmap[r.ranks == 1].max() == pytest.approx(r.gains.max())
    assert r.top_area(0.03).mean() >= 0.03


def test_registered_method_equals_the_function_and_is_deterministic():
    torch.manual_seed(0)
    model = models.small_cnn(range(10), in_channels=3, size=32, mean=(0.5,) * 3, std=(0.25,) * 3).eval()
    x = torch.nn.functional.interpolate(data.load_imagenet_sample(2).images, size=32, mode="area")
    assert "xrai" in attribution.METHODS
    a = attribution.attribute(model, x, 3, method="xrai", n_steps=4)
    b = attribution.attribute(model, x, 3, method="xrai", n_steps=4)
    assert a.shape == x.shape and torch.equal(a, b)
    assert torch.equal(a[:, 0], a[:, 2])             # one map, repeated over channels
    res = xrai.xrai(model, x, 3, n_steps=4)
    np.testing.assert_allclose(a[:, 0].numpy(), np.stack([r.heatmap for r in res]), rtol=1e-6, atol=1e-7)


def test_bad_input_raises(image):
    with pytest.raises(ValueError, match="NaN"):
        xrai.regions(np.full((4, 4), np.nan), np.ones((1, 4, 4), bool))
    with pytest.raises(ValueError, match="masks must be"):
        xrai.regions(np.zeros((4, 4)), np.ones((1, 5, 5), bool))
    with pytest.raises(ValueError, match="image must be"):
        xrai.segments(np.zeros((2, 3, 4, 5)))
    bad = image.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        xrai.segments(bad)


def _three_blocks():
    """A dense block A (10 px, value 10), a small block C (10 px, value 6), a large block D (100 px, value 7)."""
    a = np.zeros((12, 12))
    masks = np.zeros((3, 12, 12), bool)
    masks[0, 0, :10] = True                      # A
    masks[1, 1, :10] = True                      # C
    masks[2, 2:12, 0:10] = True                  # D
    a[masks[0]], a[masks[1]], a[masks[2]] = 10.0, 6.0, 7.0
    return a, masks


def test_union_gain_prefers_the_addition_that_dilutes_the_mask_least():
    """What differs between the gains: after A, "difference" takes the denser D (7 > 6); "union" takes C, whose
    union with A has the higher mean ((100 + 60) / 20 = 8 > (100 + 700) / 110)."""
    a, masks = _three_blocks()
    d = xrai.regions(a, masks, min_pixel_diff=1, gain="difference")
    u = xrai.regions(a, masks, min_pixel_diff=1, gain="union")
    block = lambda r, k: set(r.regions[k])
    A, C, D = (set(np.flatnonzero(m)) for m in masks)
    assert [block(d, k) for k in range(3)] == [A, D, C]
    assert [block(u, k) for k in range(3)] == [A, C, D]
    assert d.gains[:3].tolist() == [10.0, 7.0, 6.0]
    np.testing.assert_allclose(u.gains[:3], [10.0, 8.0, 860 / 120])      # the mean of the mask after each step
    assert d.gain == "difference" and u.gain == "union"
    # the leftover (pixels in no segment, value 0) comes last in both
    assert set(u.regions[-1]) == set(np.flatnonzero(~masks.any(0))) == set(d.regions[-1])
    # union: ranks and heat map follow the selection order (the trajectory), not the gains
    assert u.ranks[0, 0] == 1 and u.ranks[1, 0] == 2 and u.ranks[5, 5] == 3 and u.ranks[0, 11] == 4
    assert u.heatmap[0, 0] > u.heatmap[1, 0] > u.heatmap[5, 5] > u.heatmap[0, 11] == 0.0
    # difference: ranks by gain, heat map = gain (PAIR)
    assert d.ranks[5, 5] == 2 and d.heatmap[5, 5] == 7.0 and d.heatmap[1, 0] == 6.0


def _union_reference(attr, masks, min_pixel_diff):
    """Algorithm 1 with the union gain, written plainly (PAIR's loop with g_s = mean of A over s U M)."""
    current = np.zeros(attr.shape, bool)
    remaining = list(range(len(masks)))
    trace = []
    while True:
        best, best_k, drop = -np.inf, None, []
        for k in remaining:
            if (masks[k] & ~current).sum() < min_pixel_diff:
                drop.append(k)
                continue
            g = attr[masks[k] | current].mean()
            if g > best:
                best, best_k = g, k
        remaining = [k for k in remaining if k not in drop]
        if not remaining:
            break
        trace.append((np.flatnonzero(masks[best_k] & ~current), best))
        current |= masks[best_k]
        remaining.remove(best_k)
    return trace


def test_union_gain_equals_a_plain_reference_loop_on_a_real_image(image, smooth_attr):
    small = torch.nn.functional.interpolate(image[None], size=112, mode="area")[0]
    masks = xrai.segments(small)
    a2 = xrai.reduce_channels(smooth_attr[::2, ::2])
    ref = _union_reference(a2, masks, xrai.MIN_PIXEL_DIFF)
    ours = xrai.regions(a2, masks, gain="union")
    assert len(ref) > 10
    assert len(ours.regions) in (len(ref), len(ref) + 1)             # + the leftover, if any
    for (idx, g), mine, gm in zip(ref, ours.regions, ours.gains):
        np.testing.assert_array_equal(mine, idx)
        assert gm == pytest.approx(g, rel=1e-9, abs=1e-12)
    # both gains start from the same region (with M empty they are the same number) and both partition the image
    diff = xrai.regions(a2, masks)
    np.testing.assert_array_equal(diff.regions[0], ours.regions[0])
    for r in (ours, diff):
        assert sum(len(i) for i in r.regions) == a2.size and r.trajectory()[-1].all()
    # the union variant's heat map ranks regions in selection order
    assert all(ours.heatmap.flat[r[0]] > ours.heatmap.flat[s[0]] for r, s in zip(ours.regions, ours.regions[1:]))
    with pytest.raises(ValueError, match="unknown gain"):
        xrai.regions(a2, masks, gain="sum")
