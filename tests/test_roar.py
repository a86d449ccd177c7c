import pytest
import torch

from xaikit import roar, training
from xaikit.models import small_cnn


def _data(n=6, c=3, h=8, w=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=g)


def test_ranks_are_a_permutation_and_follow_the_scores():
    s = _data(4, 1, 5, 7)[:, 0]
    r = roar.ranks(s)
    assert r.dtype == torch.int32 and r.shape == s.shape
    for i in range(4):
        assert sorted(r[i].flatten().tolist()) == list(range(35))
        # rank 0 is the largest score, ranks increase as scores fall
        order = r[i].flatten().argsort()
        vals = s[i].flatten()[order]
        assert torch.all(vals[:-1] >= vals[1:])


def test_ties_broken_by_seed_not_by_position():
    s = torch.zeros(1, 10, 10)
    r0, r0b, r1 = roar.ranks(s, seed=0), roar.ranks(s, seed=0), roar.ranks(s, seed=1)
    assert torch.equal(r0, r0b) and not torch.equal(r0, r1)
    # with all scores equal, the top 10% is not simply the first row
    assert not torch.equal(roar.removal_mask(r0, 0.1, "roar")[0, 0, 0], torch.ones(10, dtype=torch.bool))


@pytest.mark.parametrize("mode", roar.MODES)
@pytest.mark.parametrize("frac", [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0, 0.33])
def test_masks_remove_exactly_the_requested_fraction(mode, frac):
    r = roar.ranks(_data(5, 1, 28, 28)[:, 0])
    m = roar.removal_mask(r, frac, mode)
    k = round(frac * 784)
    expected = k if mode == "roar" else 784 - k
    assert m.shape == (5, 1, 28, 28)
    assert (m.flatten(1).sum(1) == expected).all()


def test_roar_and_kar_masks_are_complements():
    r = roar.ranks(_data()[:, 0])
    for f in roar.FRACTIONS:
        assert torch.equal(roar.removal_mask(r, f, "roar"), ~roar.removal_mask(r, f, "kar"))


def test_modify_at_zero_is_the_original_and_replaces_with_the_channel_mean():
    x = _data(6, 3, 8, 8)
    mean = roar.dataset_mean(x)
    assert torch.allclose(mean, x.mean((0, 2, 3)), atol=1e-6)
    r = roar.ranks(roar.pixel_scores(_data(6, 3, 8, 8, seed=1)))
    assert torch.equal(roar.modify(x, r, 0.0, "roar", mean), x)     # ROAR t=0: nothing removed
    assert torch.equal(roar.modify(x, r, 1.0, "kar", mean), x)      # KAR t=1: everything kept
    y = roar.modify(x, r, 0.3, "roar", mean)
    m = roar.removal_mask(r, 0.3, "roar").expand_as(x)
    assert torch.equal(y[~m], x[~m])
    assert torch.allclose(y.permute(1, 0, 2, 3)[m.permute(1, 0, 2, 3)].view(3, -1),
                          mean[:, None].expand(3, int(m.sum()) // 3))
    # the most important pixel (largest |a| summed over channels) is among those removed
    s = roar.pixel_scores(_data(6, 3, 8, 8, seed=1))
    top = s.flatten(1).argmax(1)
    assert m[:, 0].flatten(1).gather(1, top[:, None]).all()


def test_random_estimator_masks_differ_between_seeds_and_match_for_equal_seeds():
    x = _data(4, 1, 28, 28)
    y = torch.zeros(4, dtype=torch.long)
    model = small_cnn(tuple("abcdefghij"))
    a, _ = roar.estimator_ranks(model, x, y, "random", seed=0, cache=False)
    b, _ = roar.estimator_ranks(model, x, y, "random", seed=0, cache=False)
    c, _ = roar.estimator_ranks(model, x, y, "random", seed=1, cache=False)
    ma, mb, mc = (roar.removal_mask(r, 0.5, "roar") for r in (a, b, c))
    assert torch.equal(ma, mb)
    assert not torch.equal(ma, mc)


def test_estimator_ranks_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("XAIKIT_DATA", str(tmp_path))
    x = _data(3, 1, 28, 28)
    y = torch.tensor([0, 1, 2])
    model = small_cnn(tuple("abcdefghij")).eval()
    r1, i1 = roar.estimator_ranks(model, x, y, "gradient", tag="t")
    assert "loaded_from" not in i1 and i1["images_forwarded"] == 3
    assert list((tmp_path / "cache" / "roar").glob("t_gradient_*.pt"))
    r2, i2 = roar.estimator_ranks(model, x, y, "gradient", tag="t")
    assert "loaded_from" in i2 and torch.equal(r1, r2)
    # other weights -> another cache entry, not a stale read
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    _, i3 = roar.estimator_ranks(model, x, y, "gradient", tag="t")
    assert "loaded_from" not in i3


def test_retraining_with_a_fixed_seed_is_reproducible():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(96, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (96,), generator=g)
    make = lambda: small_cnn(tuple("abcdefghij"), width=4)  # noqa: E731
    kw = dict(epochs=2, batch_size=32)

    def run(seed):
        with torch.random.fork_rng():
            torch.manual_seed(1234 + seed)  # the global random state must not matter
            return roar.train_and_evaluate(make, x, y, x, y, seed, kw)

    assert run(0) == run(0)


def test_retrained_weights_identical_for_equal_seeds():
    from xaikit import runtime, training
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    models_ = []
    for seed in (0, 0, 1):
        with runtime.seeded(seed):
            m = small_cnn(tuple("abcdefghij"), width=4)
        training.train(m, x, y, epochs=2, batch_size=16, seed=seed, show_progress=False)
        models_.append(torch.cat([p.detach().flatten() for p in m.parameters()]))
    assert torch.equal(models_[0], models_[1])
    assert not torch.equal(models_[0], models_[2])


def test_benchmark_grid_and_summary():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 28, 28, generator=g)
    y = torch.randint(0, 3, (40,), generator=g)
    mean = roar.dataset_mean(x)
    r = {"sobel": roar.ranks(roar.pixel_scores(x)),
         "random": {s: roar.ranks(torch.rand(40, 28, 28, generator=torch.Generator().manual_seed(s)), seed=s)
                    for s in (0, 1)}}
    rows = roar.benchmark(lambda: small_cnn(("a", "b", "c"), width=2), (x, y), (x, y), r, r, mean,
                          fractions=(0.5,), seeds=(0, 1), train_kw=dict(epochs=1, batch_size=20))
    assert len(rows) == 2 + 2 * 2 * 2
    assert {(q["estimator"], q["mode"]) for q in rows} >= {("none", "roar"), ("sobel", "kar"), ("random", "roar")}
    s = roar.summarize(rows)
    assert set(s["n"]) == {2}
    d = roar.seed_differences(rows, "sobel", "roar")
    assert d["seeds"] == [0, 1] and d["fractions"] == [0.5]
    acc = {(q["estimator"], q["seed"]): q["accuracy"] for q in rows if q["mode"] == "roar"}
    assert d["values"] == [acc[("sobel", s)] - acc[("random", s)] for s in (0, 1)]
    # a missing baseline cell raises
    with pytest.raises(ValueError, match="same"):
        roar.seed_differences([q for q in rows if not (q["estimator"] == "random" and q["seed"] == 1)], "sobel")


def test_seed_differences_pair_seed_and_fraction():
    rows = [dict(estimator=e, mode="roar", fraction=f, seed=s, accuracy=acc)
            for e, base in (("random", 0.5), ("g", 0.6)) for s in (0, 1, 2) for f in (0.1, 0.9)
            for acc in [base + 0.01 * s + (0.1 if (e == "g" and f == 0.9) else 0.0)]]
    d = roar.seed_differences(rows, "g", "roar")
    assert d["seeds"] == [0, 1, 2] and d["fractions"] == [0.1, 0.9]
    assert all(abs(v - 0.15) < 1e-12 for v in d["values"])          # mean of 0.1 and 0.2 at every seed
    assert [round(x, 12) for x in d["by_fraction"][0]] == [0.1, 0.2]
    with pytest.raises(ValueError, match="two rows"):
        roar.seed_differences(rows + rows[:1], "g", "roar")
    assert roar.seed_means(rows, "random", "roar") == {0: 0.5, 1: 0.51, 2: 0.52}


def test_without_retraining_uses_each_seeds_model():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 1, 28, 28, generator=g)
    y = torch.randint(0, 2, (12,), generator=g)
    mean = roar.dataset_mean(x)
    ms = {s: small_cnn(("a", "b"), width=2) for s in (0, 1)}
    r = {"sobel": roar.ranks(roar.pixel_scores(x)),
         "random": {s: roar.ranks(torch.rand(12, 28, 28), seed=s) for s in (0, 1)}}
    rows = roar.without_retraining(ms, x, y, r, mean, fractions=(0.5,), modes=("roar",), seeds=(0, 1))
    assert {(q["estimator"], q["seed"]) for q in rows} == {(e, s) for e in r for s in (0, 1)}
    for q in rows:
        rr = r[q["estimator"]][q["seed"]] if q["estimator"] == "random" else r[q["estimator"]]
        assert q["accuracy"] == training.accuracy(ms[q["seed"]], roar.modify(x, rr, 0.5, "roar", mean), y)
    one = roar.without_retraining(ms[0], x, y, r, mean, fractions=(0.5,), modes=("roar",), seeds=(0, 1))
    assert {q["seed"] for q in one if q["estimator"] == "sobel"} == {None}
    with pytest.raises(ValueError, match="no model"):
        roar.without_retraining(ms, x, y, r, mean, seeds=(0, 2))


def test_bad_input_raises():
    r = roar.ranks(torch.rand(2, 4, 4))
    with pytest.raises(ValueError, match="fraction"):
        roar.removal_mask(r, 1.5, "roar")
    with pytest.raises(ValueError, match="mode"):
        roar.removal_mask(r, 0.5, "remove")
    with pytest.raises(ValueError, match="NaN"):
        roar.ranks(torch.tensor([[[float("nan"), 0.0]]]))
    with pytest.raises(ValueError, match="do not match"):
        roar.modify(torch.rand(2, 1, 5, 5), r, 0.5, "roar", torch.zeros(1))
    with pytest.raises(ValueError, match="channels"):
        roar.modify(torch.rand(2, 3, 4, 4), r, 0.5, "roar", torch.zeros(1))
    with pytest.raises(ValueError, match="unknown estimator"):
        roar.estimator_ranks(small_cnn(tuple("ab")), torch.rand(1, 1, 28, 28), torch.zeros(1, dtype=torch.long),
                             "lime", cache=False)


def test_kept_predictions_give_the_accuracy_and_match_training_accuracy():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(50, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (50,), generator=g)
    out = roar.train_and_evaluate(lambda: small_cnn(tuple("abcdefghij"), width=4), x, y, x, y, 0,
                                  dict(epochs=1, batch_size=16), keep_model=True, keep_predictions=True)
    p = out["predictions"]
    assert p.shape == (50,) and p.dtype == torch.long
    assert out["accuracy"] == int((p == y).sum()) / 50 == training.accuracy(out["model"], x, y)
    assert torch.equal(p, roar.predictions(out["model"], x))
    # without keep_predictions the row stays small (no tensor in it)
    out2 = roar.train_and_evaluate(lambda: small_cnn(tuple("abcdefghij"), width=4), x, y, x, y, 0,
                                   dict(epochs=1, batch_size=16))
    assert "predictions" not in out2 and out2["accuracy"] == out["accuracy"]


def test_mask_images_are_the_removal_mask_as_zeros_and_ones():
    r = roar.ranks(_data(3, 1, 10, 10)[:, 0])
    for mode in roar.MODES:
        m = roar.mask_images(r, 0.3, mode)
        assert m.dtype == torch.float32 and m.shape == (3, 1, 10, 10)
        assert set(m.unique().tolist()) == {0.0, 1.0}
        assert torch.equal(m.bool(), roar.removal_mask(r, 0.3, mode))
        assert int(m[0].sum()) == (30 if mode == "roar" else 70)


def test_agreement_counts_whom_the_predictions_follow():
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    base = torch.tensor([0, 1, 9, 9, 8, 8])         # wrong on the last four
    pred = torch.tensor([0, 7, 9, 3, 8, 1])          # follows base on 2 of them, the label on 1
    a = roar.agreement(pred, base, labels)
    assert a["with_labels"] == pytest.approx(2 / 6) and a["with_base"] == pytest.approx(3 / 6)
    assert a["n_base_wrong"] == 4
    assert a["wrong_follow_base"] == pytest.approx(0.5) and a["wrong_follow_label"] == pytest.approx(0.25)
    assert a["wrong_base_minus_label"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="shapes"):
        roar.agreement(pred[:3], base, labels)


def test_curves_use_readable_names_and_draw_reference_and_chance():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [dict(estimator=e, mode="roar", fraction=f, seed=s, accuracy=0.5)
            for e in ("smoothgrad_sq", "random") for f in (0.1, 0.9) for s in (0, 1)]
    fig, ax = plt.subplots()
    roar.plot_curves(ax, roar.summarize(rows), "roar", reference=0.75, chance=0.1)
    labels = ax.get_legend_handles_labels()[1]
    assert labels[:2] == ["SmoothGrad²", "random (baseline)"]
    assert any("0.75" in s for s in labels) and any("chance (0.10)" == s for s in labels)
    assert sorted(round(line.get_ydata()[0], 2) for line in ax.get_lines()[2:]) == [0.1, 0.75]
    plt.close(fig)
