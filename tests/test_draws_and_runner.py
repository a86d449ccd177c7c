"""Seeded draws across classes (never the first N items) and the notebook runner's command line."""
import json
from pathlib import Path

import numpy as np
import pytest

from xaikit import data, run

ROOT = Path(__file__).resolve().parent.parent


def test_fewer_than_classes_gives_distinct_classes():
    labels = np.repeat(np.arange(10), 50)
    idx = data.stratified_indices(labels, 7, seed=3)
    assert len(idx) == 7 and len(set(labels[idx])) == 7 and np.all(np.diff(idx) > 0)
    assert not np.array_equal(idx, np.arange(7))


def test_more_than_classes_spreads_evenly_and_is_seeded():
    labels = np.repeat(np.arange(10), 50)
    idx = data.stratified_indices(labels, 25, seed=0)
    counts = np.bincount(labels[idx], minlength=10)
    assert counts.sum() == 25 and counts.max() - counts.min() <= 1
    assert np.array_equal(idx, data.stratified_indices(labels, 25, seed=0))
    assert not np.array_equal(idx, data.stratified_indices(labels, 25, seed=1))
    assert np.array_equal(data.stratified_indices(labels, None, 0), np.arange(500))


def test_uneven_classes_run_out_gracefully():
    labels = np.array([0] * 2 + [1] * 10)
    idx = data.stratified_indices(labels, 8, seed=0)
    assert len(idx) == 8 and np.bincount(labels[idx]).tolist() == [2, 6]


def test_imagenet_sample_draw_is_random_classes_with_names():
    d = data.load_imagenet_sample(n=4, seed=0, size=32, resize=32)
    assert len(set(d.labels.tolist())) == 4 and d.labels.tolist() != [0, 1, 2, 3]
    assert d.names == sorted(d.names) and all(n.endswith(".JPEG") for n in d.names)
    again = data.load_imagenet_sample(names=d.names, size=32, resize=32)
    assert again.labels.tolist() == d.labels.tolist() and (again.images == d.images).all()
    assert data.load_imagenet_sample(n=4, seed=1, size=32, resize=32).names != d.names
    assert "4 classes drawn with seed 0" in d.source


def test_array_loaders_name_their_items():
    d = data.load_fashion_mnist("test", n=12, seed=0)
    assert len(d.names) == 12 and d.names[0].startswith("test[") and len(set(d.labels.tolist())) == 10


def test_parameter_values_are_parsed():
    assert run.parse_value("8") == 8 and run.parse_value("0.5") == 0.5 and run.parse_value("true") is True
    assert run.parse_value("/data/imagenet") == "/data/imagenet" and run.parse_value("[1, 2]") == [1, 2]
    assert run.parse_value("it's") == "it's"


def test_command_line_parameters_reach_execute(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(run, "execute", lambda nb, profile, out, seed, **kw: seen.append((nb.stem, profile, kw)))
    monkeypatch.setattr(run, "write_summary", lambda *a: "summary.md")
    run.main(["--profile", "smoke", "--out", str(tmp_path), "-p", "imagenet_val", "/data/in", "-p", "n_images", "3",
              "00"])
    assert seen == [("00_tour", "smoke", {"executed": None, "threads": None, "imagenet_val": "/data/in",
                                          "n_images": 3})]
    run.main(["--threads", "2", "--out", str(tmp_path), "00"])
    assert seen[-1] == ("00_tour", "standard", {"executed": None, "threads": 2})


def test_reserved_parameters_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="--profile/--seed/--out"):
        run.execute(run.notebooks(["00"])[0], "smoke", tmp_path, out_dir="/elsewhere")
    with pytest.raises(SystemExit):
        run.main(["-p", "profile", "paper"])
    assert "set these with --profile" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run.main(["-p", "threads", "2"])
    assert "--threads" in capsys.readouterr().err


def test_kernel_variables_smoke_one_thread_pinned_batch_and_threads_option(capsys):
    """What a notebook's kernel is given (computed without touching this process's environment, which the suite's
    smoke runs inherit): smoke gets one thread and the pinned batch unless set; --threads always wins."""
    assert run.kernel_variables("smoke", environ={}) == run.SMOKE_ENV
    assert run.kernel_variables("smoke", environ={"MKL_NUM_THREADS": "2"}) == {
        "OMP_NUM_THREADS": "1", "XAIKIT_FORWARD_BATCH": "16"}                    # a variable the user set wins
    assert run.kernel_variables("standard", environ={}) == {}
    both = run.kernel_variables("smoke", 2, environ={"OMP_NUM_THREADS": "4"})
    assert both == {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "XAIKIT_FORWARD_BATCH": "16"}
    with pytest.raises(SystemExit):
        run.main(["--threads", "0", "00"])
    assert "positive number of threads" in capsys.readouterr().err


def test_shrink_outputs_makes_figures_light_and_keeps_sources(tmp_path):
    import base64
    import io

    import matplotlib
    import nbformat
    from PIL import Image

    from xaikit import run
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(16, 8), dpi=150)
    ax.imshow(np.random.default_rng(0).random((200, 400)), cmap="inferno")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    png = buf.getvalue()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("plot()", outputs=[
        nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(png).decode()})])])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    saved = run.shrink_outputs(path)
    out = nbformat.read(str(path), as_version=4)
    assert out.cells[0].source == "plot()" and saved > 0
    (kind, data), = out.cells[0].outputs[0]["data"].items()
    im = Image.open(io.BytesIO(base64.b64decode(data)))
    assert kind in ("image/png", "image/jpeg") and im.width == run.MAX_WIDTH and len(base64.b64decode(data)) < len(png)
    assert run.shrink_outputs(path) == 0          # already light: nothing more to do


def test_committed_executed_notebooks_are_light():
    for p in sorted((ROOT / "notebooks" / "executed").glob("*.ipynb")):
        assert p.stat().st_size <= 2_000_000, p.name


def test_a_run_says_what_moved_against_the_results_before_it():
    from xaikit import results
    before = {"values": {"a": {"value": 0.5, "ci": [0.4, 0.6], "verdict": "held"},
                         "b": {"value": {"x": [1.0, 2.0]}},
                         "c": {"value": 3}}}
    same = json.loads(json.dumps(before))
    same["values"]["a"]["value"] = 0.5 + 1e-9                       # float noise
    m = results.moved(before, same)
    assert not any(m.values()) and "reproduced" in results.moved_report("nb", m)
    after = json.loads(json.dumps(before))
    after["values"]["a"].update(ci=[0.45, 0.6], verdict="inconclusive")
    after["values"]["b"]["value"]["x"][1] = 2.5
    del after["values"]["c"]
    after["values"]["d"] = {"value": 1}
    m = results.moved(before, after)
    assert m["verdicts"] == [("a", "held", "inconclusive")] and m["added"] == ["d"] and m["removed"] == ["c"]
    assert [k for k, _ in m["values"]] == ["a", "b"] and dict(m["values"])["b"] == pytest.approx(0.5)
    text = results.moved_report("nb", m)
    assert "1 verdicts changed" in text and "held -> inconclusive" in text


def test_readme_run_times_are_the_timings_files():
    """The README's table of run times is generated from the committed timings files, never typed."""
    text = (run.REPO / "README.md").read_text()
    table = text.split("<!-- timing-table -->\n", 1)[1].split("\n<!-- /timing-table -->", 1)[0]
    assert table == run.timing_table(), "regenerate it: python -m xaikit.run --timing-table"
