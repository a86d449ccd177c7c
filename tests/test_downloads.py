"""The download paths, against a local HTTP server on 127.0.0.1 only (no other network access), and the order in
which the loaders prefer their sources."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import pickle
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xaikit import data

SAMPLE = data.SHARED / data.IMAGENET_SAMPLE_DIR
needs_sample = pytest.mark.skipif(not SAMPLE.is_dir(), reason="needs ../shared/data/imagenet-sample-images")
# Four real sample files, one with an apostrophe (URL quoting).
FILES = ["n01440764_tench.JPEG", "n01443537_goldfish.JPEG", "n02966687_carpenter's_kit.JPEG",
         "n15075141_toilet_tissue.JPEG"]


@pytest.fixture(autouse=True)
def local_network_only(monkeypatch):
    """Any connection to a host other than 127.0.0.1 fails the test."""
    real = socket.socket.connect

    def connect(self, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"test tried to reach {address}")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


class Server:
    """http.server on a free port of 127.0.0.1 in a thread: serves `root`, honours Range, logs each GET, and can
    cut a response short (`cut[name] = bytes to send before dropping the connection`, once)."""

    def __init__(self, root: Path):
        self.root, self.log, self.cut = root, [], {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                from urllib.parse import unquote
                name = unquote(self.path.lstrip("/").split("/")[-1])
                rng = self.headers.get("Range")
                server.log.append((name, rng))
                path = server.root / name
                if not path.is_file():
                    self.send_error(404)
                    return
                body, status = path.read_bytes(), 200
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    body, status = body[start:], 206
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if name in server.cut:
                    self.wfile.write(body[:server.cut.pop(name)])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/some/commit/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def names(self):
        return [n for n, _ in self.log]


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    s = Server(root)
    s.thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def _serve(server, names=FILES):
    for n in names:
        shutil.copy(SAMPLE / n, server.root / n)


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_checksum_list_is_committed_and_complete():
    sums = data.imagenet_sample_checksums()
    assert len(sums) == 1000 and all(len(v) == 64 for v in sums.values())
    assert all(n.endswith(".JPEG") for n in sums) and len({n.split("_")[0] for n in sums}) == 1000


@needs_sample
def test_download_fetches_and_verifies(server, tmp_path):
    _serve(server)
    got = data.download_imagenet_sample(tmp_path / "d", server.url, files=FILES, log=None)
    assert got == FILES
    out = tmp_path / "d" / data.IMAGENET_SAMPLE_DIR
    sums = data.imagenet_sample_checksums()
    assert all(_sha(out / n) == sums[n] for n in FILES)
    assert not list(out.glob("*.partial"))
    # run again: everything is verified on disk, nothing is requested
    server.log.clear()
    assert data.download_imagenet_sample(tmp_path / "d", server.url, files=FILES, log=None) == []
    assert server.log == []


@needs_sample
def test_corrupted_file_is_rejected_with_its_name(server, tmp_path):
    _serve(server)
    bad = server.root / FILES[1]
    b = bytearray(bad.read_bytes())
    b[1000] ^= 0xFF
    bad.write_bytes(bytes(b))
    with pytest.raises(data.ChecksumError, match=f"{FILES[1]}: SHA-256 mismatch"):
        data.download_imagenet_sample(tmp_path, server.url, files=FILES, log=None)
    out = tmp_path / data.IMAGENET_SAMPLE_DIR
    assert (out / FILES[0]).is_file()  # verified before the bad one
    assert not (out / FILES[1]).exists() and not (out / (FILES[1] + ".partial")).exists()  # nothing unverified kept


@needs_sample
def test_interrupted_download_resumes_where_it_stopped(server, tmp_path):
    _serve(server)
    size = (server.root / FILES[2]).stat().st_size
    server.cut[FILES[2]] = size // 3  # the connection drops a third into the third file
    with pytest.raises(data.DownloadError, match="run again to resume"):
        data.download_imagenet_sample(tmp_path, server.url, files=FILES, log=None)
    out = tmp_path / data.IMAGENET_SAMPLE_DIR
    assert sorted(p.name for p in out.glob("*.JPEG")) == sorted(FILES[:2])
    assert (out / (FILES[2] + ".partial")).stat().st_size == size // 3
    server.log.clear()
    assert data.download_imagenet_sample(tmp_path, server.url, files=FILES, log=None) == FILES[2:]
    # only the rest was fetched; the cut file was continued from where it stopped
    assert server.log == [(FILES[2], f"bytes={size // 3}-"), (FILES[3], None)]
    sums = data.imagenet_sample_checksums()
    assert all(_sha(out / n) == sums[n] for n in FILES)


@needs_sample
def test_a_bad_partial_file_is_fetched_again_from_scratch(server, tmp_path):
    _serve(server, FILES[:1])
    out = tmp_path / data.IMAGENET_SAMPLE_DIR
    out.mkdir()
    (out / (FILES[0] + ".partial")).write_bytes(b"not the start of this file")
    data.download_imagenet_sample(tmp_path, server.url, files=FILES[:1], log=None)
    assert _sha(out / FILES[0]) == data.imagenet_sample_checksums()[FILES[0]]
    assert server.log == [(FILES[0], "bytes=26-"), (FILES[0], None)]


def test_unknown_file_and_unreachable_server_are_clear_errors(server, tmp_path):
    with pytest.raises(ValueError, match="checksum list"):
        data.download_imagenet_sample(tmp_path, server.url, files=["n00000000_nothing.JPEG"], log=None)
    with pytest.raises(data.DownloadError, match=f"could not download {FILES[0]}.*Run again once the network"):
        data.download_imagenet_sample(tmp_path, server.url, files=FILES[:1], log=None)  # 404


def test_loader_downloads_when_the_folder_is_missing_and_says_so(server, tmp_path, monkeypatch):
    monkeypatch.setenv("XAIKIT_IMAGENET_SAMPLE_URL", server.url)
    with pytest.raises(data.MissingDataError, match="The download failed: could not download"):
        data.load_imagenet_sample(n=2, root=tmp_path)
    with pytest.raises(data.MissingDataError, match="imagenet-sample-images"):
        data.load_imagenet_sample(n=2, root=tmp_path / "other", download=False)
    assert server.log[:1] == [(sorted(data.imagenet_sample_checksums())[0], None)]  # download=False asked nothing


@needs_sample
def test_loader_full_download_from_local_server(tmp_path, monkeypatch):
    """All 1,000 files through the loader's download path (served from ../shared, over 127.0.0.1)."""
    s = Server(SAMPLE)
    s.thread.start()
    try:
        monkeypatch.setenv("XAIKIT_IMAGENET_SAMPLE_URL", s.url)
        d = data.load_imagenet_sample(n=3, seed=1, root=tmp_path)
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()
    assert len(s.log) == 1000 and d.images.shape == (3, 3, 224, 224)
    assert "downloaded from GitHub EliSchwartz/imagenet-sample-images @ bc69043, SHA-256 verified" in d.source
    offline = data.load_imagenet_sample(n=3, seed=1)
    assert d.names == offline.names and (d.images - offline.images).abs().max() == 0


# ---------------------------------------------------------------- which copy the loaders use

def _fake_cifar_batches(root: Path, monkeypatch) -> None:
    """A tiny CIFAR-10 in torchvision's format (20 test, 20 train images); torchvision's md5 list is pointed at
    these files (it is torchvision's integrity check, not the preference order under test)."""
    from torchvision.datasets import CIFAR10
    d = root / CIFAR10.base_folder
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def batch(name):
        obj = {"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), "labels": list(range(10)) * 2}
        (d / name).write_bytes(pickle.dumps(obj))
        return [name, hashlib.md5((d / name).read_bytes()).hexdigest()]

    train = [batch(f"data_batch_{i}") for i in range(1, 6)]
    test = [batch("test_batch")]
    (d / "batches.meta").write_bytes(pickle.dumps({"label_names": list(data.CIFAR10_CLASSES)}))
    meta = dict(CIFAR10.meta, md5=hashlib.md5((d / "batches.meta").read_bytes()).hexdigest())
    monkeypatch.setattr(CIFAR10, "train_list", train)
    monkeypatch.setattr(CIFAR10, "test_list", test)
    monkeypatch.setattr(CIFAR10, "meta", meta)


def _fake_cifar_jpeg(root: Path) -> None:
    for k, c in enumerate(data.CIFAR10_CLASSES):
        (root / data.CIFAR10_JPEG_DIR / "test" / c).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (32, 32), (k * 20, i * 50, 0)).save(root / data.CIFAR10_JPEG_DIR / "test" / c / f"{i:04d}.jpg")


def test_the_jpeg_copy_by_default_and_the_original_on_request(tmp_path, monkeypatch):
    _fake_cifar_jpeg(tmp_path)
    _fake_cifar_batches(tmp_path, monkeypatch)
    jpeg = data.load_cifar10("test", n=5, seed=0, root=tmp_path, download=False)
    assert "lossy" in jpeg.source and "laid out" in jpeg.source      # what the committed results used
    real = data.load_cifar10("test", n=5, seed=0, root=tmp_path, download=False, copy="original")
    assert "original CIFAR-10" in real.source and "lossy" not in real.source
    monkeypatch.setenv("XAIKIT_CIFAR10", "original")
    assert data.load_cifar10("test", n=5, seed=0, root=tmp_path, download=False).source == real.source
    with pytest.raises(ValueError, match="copy"):
        data.load_cifar10("test", n=5, root=tmp_path, copy="png")


@pytest.mark.skipif(not (data.SHARED / data.FASHION_MNIST_SHARED).is_dir(), reason="needs ../shared/data/fashion-mnist")
def test_fashion_mnist_laid_out_from_shared_says_which_copy(tmp_path):
    shared = tmp_path / "shared"           # only Fashion-MNIST: unpacking the CIFAR-10 copy is another test's cost
    shared.mkdir()
    (shared / data.FASHION_MNIST_SHARED).symlink_to(data.SHARED / data.FASHION_MNIST_SHARED)
    root = tmp_path / "data"
    done = data.seed_offline_copies(root, shared)
    assert any(line.startswith("unpacked Fashion-MNIST from") for line in done)
    d = data.load_fashion_mnist("test", n=20, seed=0, root=root, download=True)  # files there: no download
    assert "../shared/data/fashion-mnist" in d.source and d.images.shape == (20, 1, 28, 28)
    assert sorted(d.labels.tolist()) == sorted(list(range(10)) * 2)
    assert not any("Fashion-MNIST" in line for line in data.seed_offline_copies(root, shared))  # laid out once


def test_no_offline_copy_is_said_plainly(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_DEBIAN", tmp_path / "none")
    done = data.seed_offline_copies(tmp_path / "root", tmp_path / "no-shared")
    assert any("Fashion-MNIST: no offline copy" in line for line in done)
    assert any("ImageNet sample: no offline copy; it is downloaded" in line for line in done)
    assert any("CIFAR-10: no offline copy" in line for line in done)


def test_fashion_mnist_debian_copy_is_the_second_fallback(tmp_path, monkeypatch):
    deb = tmp_path / "debian"
    deb.mkdir()
    for f in data.FASHION_MNIST_FILES:
        with gzip.open(deb / f"{f}.gz", "wb") as g:
            g.write(f.encode())
    monkeypatch.setattr(data, "FASHION_MNIST_DEBIAN", deb)
    assert data._fashion_mnist_copy(tmp_path / "no-shared") == deb
    if (data.SHARED / data.FASHION_MNIST_SHARED).is_dir():
        assert data._fashion_mnist_copy(data.SHARED) == data.SHARED / data.FASHION_MNIST_SHARED


CIFAR_ZIP = data.SHARED / "cifar10-jpeg.zip"


@pytest.fixture
def cifar_server(tmp_path):
    """The pinned commit's files for two test folders, served from 127.0.0.1 in the raw-GitHub layout
    (<base>/<split>/<class>/<NNNN>.jpg), logging each GET."""
    import functools
    import zipfile
    served = tmp_path / "served"
    with zipfile.ZipFile(CIFAR_ZIP) as z:
        for name in z.namelist():
            if name.startswith(("test/cat/", "test/dog/")) and name.endswith(".jpg"):
                z.extract(name, served)
    log = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            log.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", served, log
    httpd.shutdown()


@pytest.mark.skipif(not CIFAR_ZIP.is_file(), reason="needs ../shared/data/cifar10-jpeg.zip")
def test_cifar10_jpeg_copy_downloads_verified_and_resumes(tmp_path, cifar_server):
    url, served, log = cifar_server
    root = tmp_path / "empty"
    folders = ["test/cat", "test/dog"]
    assert data.download_cifar10_jpeg(root, url, folders=folders, log=None) == folders
    assert len(log) == 2000 and len(list((root / data.CIFAR10_JPEG_DIR / "test" / "cat").glob("*.jpg"))) == 1000
    assert data.folder_sha256(root / data.CIFAR10_JPEG_DIR / "test" / "dog") == data.cifar10_jpeg_checksums()["test/dog"][0]
    # verified folders are skipped; a folder with files missing fetches only those
    log.clear()
    for f in sorted((root / data.CIFAR10_JPEG_DIR / "test" / "cat").glob("*.jpg"))[:5]:
        f.unlink()
    assert data.download_cifar10_jpeg(root, url, folders=folders, log=None) == ["test/cat"] and len(log) == 5
    # a server that serves another file: the folder fails its SHA-256, is deleted, and the error names it
    bad = served / "test" / "dog" / "0007.jpg"
    bad.write_bytes(bad.read_bytes()[:-1] + b"\0")
    shutil.rmtree(root / data.CIFAR10_JPEG_DIR / "test" / "dog")
    with pytest.raises(data.ChecksumError, match="test/dog"):
        data.download_cifar10_jpeg(root, url, folders=["test/dog"], log=None)
    assert not (root / data.CIFAR10_JPEG_DIR / "test" / "dog").exists()
    with pytest.raises(ValueError, match="not a folder"):
        data.download_cifar10_jpeg(root, url, folders=["test/unicorn"], log=None)


def test_committed_cifar10_jpeg_checksums_cover_the_copy():
    sums = data.cifar10_jpeg_checksums()
    assert len(sums) == 20 and sum(n for _, n in sums.values()) == 60_000
    assert {f.split("/")[1] for f in sums} == set(data.CIFAR10_CLASSES)
    if (data.data_root() / data.CIFAR10_JPEG_DIR / "test" / "cat").is_dir():   # the laid-out offline copy
        assert data.folder_sha256(data.data_root() / data.CIFAR10_JPEG_DIR / "test" / "cat") == sums["test/cat"][0]
