"""Data, models, training and results: the ground the notebooks stand on."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from xaikit import data, models, results, stats, training


def test_efficientnet_lite0_equals_reference_module():
    ours, ref = models.efficientnet_lite0(), models.efficientnet_lite0_reference()
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        # ours takes [0, 1] images and scales (x - 0.5) / 0.5 itself; the reference takes the scaled input
        assert torch.allclose(ours(x), ref((x - 0.5) / 0.5), atol=1e-5)
    # every activation is its own module, none in place (Captum's guided and DeepLift rules hook modules)
    acts = [m for m in ours.modules() if isinstance(m, torch.nn.ReLU)]
    assert len(acts) == len({id(m) for m in acts}) == 33 and not any(m.inplace for m in acts)


def test_imagenet_sample_labels_follow_torchvision_order():
    d = data.load_imagenet_sample(index=[0, 1, 2])
    assert d.images.shape == (3, 3, 224, 224) and 0 <= d.images.min() and d.images.max() <= 1
    assert d.names[0].startswith("n01440764") and d.labels.tolist() == [0, 1, 2]
    assert d.classes[0] == "tench" and "offline" in d.source


def test_missing_data_names_the_expected_path(tmp_path):
    with pytest.raises(data.MissingDataError, match=str(tmp_path / "imagenet-sample-images")):
        data.load_imagenet_sample(root=tmp_path, download=False)
    with pytest.raises(data.MissingDataError, match="CIFAR-10"):
        data.load_cifar10(root=tmp_path, download=False)


def test_cifar10_offline_copy_says_it_is_lossy():
    d = data.load_cifar10("test", n=20, seed=1)
    assert d.images.shape == (20, 3, 32, 32) and len(set(d.labels.tolist())) > 1
    assert "lossy" in d.source or "original" in d.source
    assert torch.equal(d.images, data.load_cifar10("test", n=20, seed=1).images)


def test_fashion_mnist_from_local_files():
    d = data.load_fashion_mnist("test", n=10)
    assert d.images.shape == (10, 1, 28, 28) and d.classes[0] == "T-shirt/top"


def test_forward_counter_counts_images():
    model = models.small_cnn([str(i) for i in range(10)]).eval()
    with models.count_forward(model) as c:
        model.predict(torch.rand(70, 1, 28, 28), batch_size=32)
    # 32 + 32 + 6 (the last batch is padded to 8 rows, models.ROWS; padding rows are not images of the experiment)
    assert c.as_dict() == {"forward_calls": 3, "images_forwarded": 70}


def test_cifar_cnn_has_no_bias_terms_in_conv_or_linear():
    model = models.cifar_cnn(data.CIFAR10_CLASSES)
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            assert m.bias is None
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert isinstance(model.layer(), torch.nn.ReLU)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model"):
        models.load_model("alexnet9000")


def _tiny_fashion():
    d = data.load_fashion_mnist("train", n=300, seed=0)
    return d.images, d.labels


def test_training_is_seeded_and_cached(tmp_path):
    x, y = _tiny_fashion()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)  # same initial weights; train() seeds everything after that
        model = models.small_cnn([str(i) for i in range(10)], width=8)
        runs.append((model, training.train(model, x, y, epochs=2, seed=3, show_progress=False)))
    (a, _), (b, _) = runs
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    ckpt = tmp_path / "m.pt"
    m1 = models.small_cnn([str(i) for i in range(10)], width=8)
    h1 = training.train(m1, x, y, epochs=2, seed=3, checkpoint=ckpt, show_progress=False)
    m2 = models.small_cnn([str(i) for i in range(10)], width=8)
    h2 = training.train(m2, x, y, epochs=2, seed=3, checkpoint=ckpt, show_progress=False)
    assert "loaded_from" in h2 and h2["val_accuracy"] == h1["val_accuracy"]
    assert torch.equal(m1(x[:5]), m2(x[:5]))


def test_training_rejects_bad_input():
    model = models.small_cnn([str(i) for i in range(10)])
    with pytest.raises(ValueError, match="NaN"):
        training.train(model, torch.full((4, 1, 28, 28), float("nan")), torch.zeros(4, dtype=torch.long))
    x, y = torch.rand(8, 1, 28, 28), torch.zeros(8, dtype=torch.long)
    with pytest.raises(ValueError, match="unknown augmentation"):
        training.train(model, x, y, augment="mixup", epochs=1, show_progress=False)
    with pytest.raises(ValueError, match="lr_schedule kind"):
        training.train(model, x, y, lr_schedule={"kind": "linear"}, epochs=1, show_progress=False)


def test_flip_crop_is_a_flip_and_a_shift_of_each_image():
    x = torch.rand(64, 3, 8, 8)
    torch.manual_seed(0)
    out = training.flip_crop(x, pad=2)
    assert out.shape == x.shape
    for img, o in zip(x, out):
        # some flip and shift (dy, dx) of the zero-padded image reproduces the crop exactly
        padded = {f: torch.nn.functional.pad(img.flip(2) if f else img, (2, 2, 2, 2)) for f in (0, 1)}
        assert any(torch.equal(padded[f][:, dy:dy + 8, dx:dx + 8], o)
                   for f in (0, 1) for dy in range(5) for dx in range(5))
    torch.manual_seed(0)
    assert torch.equal(training.flip_crop(x, pad=2), out)  # seeded: repeatable
    assert not torch.equal(out, x)
    o0 = training.flip_crop(x, pad=0)
    assert all(torch.equal(o, i) or torch.equal(o, i.flip(2)) for o, i in zip(o0, x))  # no padding: flips only


def test_augmented_scheduled_training_records_its_settings(tmp_path):
    x, y = _tiny_fashion()
    kw = dict(epochs=3, seed=1, optimizer="sgd", lr=0.05, nesterov=True, patience=3, augment="flip_crop",
              lr_schedule={"kind": "onecycle", "max_lr": 0.05}, channels_last=True, show_progress=False)
    ckpt = tmp_path / "m.pt"
    model = models.small_cnn([str(i) for i in range(10)], width=8)
    h = training.train(model, x, y, checkpoint=ckpt, **kw)
    saved = torch.load(ckpt, weights_only=False)["settings"]
    assert saved["augment"] == "flip_crop" and saved["channels_last"] and saved["lr_schedule"]["kind"] == "onecycle"
    # one-cycle (rate after each epoch's last step): never above its peak, far below it at the end
    assert len(h["lr"]) == 3 and max(h["lr"]) <= 0.05 + 1e-12 and h["lr"][-1] < 0.1 * 0.05
    assert h["best_val_accuracy"] == max(h["val_accuracy"]) and h["seconds"] >= 0
    # other settings (here: no augmentation) must not load this checkpoint
    other = models.small_cnn([str(i) for i in range(10)], width=8)
    h2 = training.train(other, x, y, checkpoint=ckpt, **dict(kw, augment=None, epochs=1))
    assert "loaded_from" not in h2


def test_results_are_atomic_deterministic_and_profiled(tmp_path):
    def make():
        r = results.Results("99_test", profile="smoke", seed=1, root=tmp_path, source="s", model="m")
        r.compare("a", torch.tensor([0.1, 0.2, 0.25, 0.3]), claim="a", kind="equal", paper=0.3, tol=0.1,
                  paper_where="Table 1")
        r.add("b", 1 / 3)
        r.time("step", 1.234)
        return r
    p = make().save()
    first = p.read_text()
    assert p == tmp_path / "results" / "smoke" / "99_test.json"
    assert make().save().read_text() == first
    doc = json.loads(first)
    assert doc["values"]["a"]["paper"] == 0.3 and doc["values"]["a"]["source"] == "s"
    assert "seconds" not in first and p.with_suffix(".timings.json").is_file()
    r = make()
    with pytest.raises(ValueError, match="not finite"):
        r.add("c", float("nan"))
    with pytest.raises(ValueError, match="not finite"):
        r.add("c", {"x": torch.tensor([1.0, float("inf")])})
    assert p.read_text() == first and not list(p.parent.glob("*.tmp"))
    with pytest.raises(ValueError, match="profile"):
        results.Results("x", profile="huge")
    assert "| a | 0.3 (Table 1) | 0.21" in make().comparison_table()   # no registry: the saved verdicts


def test_standard_results_go_to_top_level(tmp_path):
    r = results.Results("99_test", profile="standard", root=tmp_path)
    assert r.path == tmp_path / "results" / "99_test.json"
    assert r.figure_path("f.png").parent == tmp_path / "figures" / "99_test"


def test_every_notebook_has_a_smoke_test():
    nbs = sorted(p.stem for p in (Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    tests = " ".join(p.read_text() for p in Path(__file__).parent.glob("test_nb*.py"))
    assert nbs and all(f'"{nb}"' in tests for nb in nbs), nbs


def test_compare_saves_what_recomputes_its_interval(tmp_path):
    # a clustered interval is saved with its clusters (for any statistic), or it cannot be recomputed
    r = results.Results("99_test", profile="smoke", seed=3, root=tmp_path)
    x, c = np.arange(12.0), np.repeat(["a", "b", "c", "d"], 3)
    for stat in ("mean", "median"):
        r.compare(stat, x, claim="x", kind="greater", clusters=c, stat=stat)
        e = r.values[stat]
        assert e["clusters"] == c.tolist() and e["interval"]["n_clusters"] == 4
        again = stats.bootstrap(e["units"], stat, clusters=e["clusters"], seed=3)
        assert [again.low, again.high] == e["ci"]
    assert "stat" not in r.values["mean"] and r.values["median"]["stat"] == "median"


def test_results_files_store_repeated_unit_lists_once(tmp_path):
    """Entries over the same images name one stored list ("@0"); reading the file gives every entry its list."""
    from xaikit import results as R
    res = R.Results("99_pack", "smoke", 0, root=tmp_path)
    ids = [f"img{i}" for i in range(12)]
    for k in ("a", "b", "c"):
        res.add(k, list(range(12)), unit_ids=ids, clusters=[i // 2 for i in range(12)])
    res.add("other", 1.0, unit_ids=["x", "y"])                      # held once: stays in place
    path = res.save()
    raw = json.loads(path.read_text())
    assert raw["values"]["a"]["unit_ids"] == raw["values"]["c"]["unit_ids"] == "@0"
    assert raw["values"]["other"]["unit_ids"] == ["x", "y"] and len(raw["shared_lists"]) == 2
    assert R.read(path) == R.unpack(R.pack(res.document())) == json.loads(json.dumps(res.document()))
    assert R.read(path)["values"]["b"]["unit_ids"] == ids and R.load("99_pack", "smoke", tmp_path) == R.read(path)
