"""Datasets: the real ones through torchvision, and the offline copies our machines use.

Every loader returns a `Data` record whose `source` says exactly where the images came from, so that a
notebook can print it and store it beside every number it reports.
"""
from __future__ import annotations

import gzip
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"

IMAGENET_SAMPLE_DIR = "imagenet-sample-images"
CIFAR10_JPEG_DIR = "cifar10-jpeg"
FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_JPEG_NOTE = ("offline CIFAR-10 copy re-encoded as JPEG quality 75 (lossy): "
                     "numbers on it are not numbers on CIFAR-10")


class MissingDataError(FileNotFoundError):
    """A dataset is not on disk and cannot be fetched here."""


@dataclass
class Data:
    """Images in [0, 1] as an (N, C, H, W) float tensor, integer labels, class names and the source used."""
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


def seed_offline_copies(root: Path | None = None, shared: Path = SHARED) -> list[str]:
    """Lay out the offline copies (../shared/data, the Debian Fashion-MNIST) under the data root.

    Idempotent; the layout is the one torchvision's loaders expect, so they find verified files and download
    nothing. Returns what was done, one line each.
    """
    root = Path(root or data_root())
    root.mkdir(parents=True, exist_ok=True)
    done = []
    src = shared / IMAGENET_SAMPLE_DIR
    dst = root / IMAGENET_SAMPLE_DIR
    if src.is_dir() and not dst.exists():
        dst.symlink_to(src, target_is_directory=True)
        done.append(f"linked {dst} -> {src}")
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
        done.append(f"unpacked {zpath} -> {dst}")
    raw = root / "FashionMNIST" / "raw"
    if FASHION_MNIST_DEBIAN.is_dir() and not (raw / "t10k-labels-idx1-ubyte").exists():
        raw.mkdir(parents=True, exist_ok=True)
        # Debian re-gzipped the files (other .gz checksums than torchvision's), so lay out the unpacked idx
        # files, which is what torchvision checks for before it would download.
        for gz in FASHION_MNIST_DEBIAN.glob("*-ubyte.gz"):
            out = raw / gz.name[:-3]
            with gzip.open(gz, "rb") as f, open(out.with_suffix(".partial"), "wb") as g:
                shutil.copyfileobj(f, g)
            out.with_suffix(".partial").replace(out)
        done.append(f"unpacked Fashion-MNIST from {FASHION_MNIST_DEBIAN} -> {raw}")
    return done


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


def load_imagenet_sample(n: int | None = None, size: int = 224, resize: int = 256,
                         root: Path | None = None, start: int = 0) -> Data:
    """The 1,000 ImageNet-1k images, one per class (offline copy of EliSchwartz/imagenet-sample-images).

    Label = position of the file's wnid in the sorted list of the 1,000 wnids (torchvision's class order).
    Images are resized (shorter side `resize`) and centre-cropped to `size`, values in [0, 1].
    """
    d = Path(root or data_root()) / IMAGENET_SAMPLE_DIR
    files = sorted(d.glob("*.JPEG")) if d.is_dir() else []
    if len(files) != 1000:
        raise _missing("ImageNet sample images (1,000 files named <wnid>_<name>.JPEG)", d,
                       "Run `make data` (seeds it from ../shared/data), or clone GitHub "
                       "EliSchwartz/imagenet-sample-images there, or set XAIKIT_DATA.")
    wnids = sorted(f.name.split("_")[0] for f in files)
    stop = None if n is None else start + n
    chosen = files[start:stop]
    images = torch.stack([_to_tensor(Image.open(f), size, resize) for f in chosen])
    labels = torch.tensor([wnids.index(f.name.split("_")[0]) for f in chosen])
    return Data(images, labels, imagenet_classes(),
                f"offline ImageNet-1k sample: 1 image per class ({d.name}), resize {resize}, centre crop {size}",
                [f.name for f in chosen])


def load_imagenet_val(root: Path, n: int | None = None, size: int = 224, resize: int = 256,
                      seed: int = 0) -> Data:
    """ImageNet-1k validation images from a user-supplied folder, through torchvision.datasets.ImageNet.

    `root` must hold ILSVRC2012_img_val.tar and ILSVRC2012_devkit_t12.tar.gz (or their unpacked form), as
    torchvision documents. `n` images are drawn at random with `seed`.
    """
    from torchvision.datasets import ImageNet
    root = Path(root)
    if not root.is_dir():
        raise _missing("ImageNet validation folder", root,
                       "Download ILSVRC2012 (image-net.org) and pass its folder; see torchvision.datasets.ImageNet.")
    ds = ImageNet(str(root), split="val")
    idx = np.arange(len(ds))
    if n is not None:
        idx = np.random.default_rng(seed).choice(len(ds), size=n, replace=False)
    images, labels, names = [], [], []
    for i in idx:
        path, label = ds.samples[i]
        images.append(_to_tensor(Image.open(path), size, resize))
        labels.append(label)
        names.append(Path(path).name)
    return Data(torch.stack(images), torch.tensor(labels), imagenet_classes(),
                f"ImageNet-1k validation (torchvision ImageNet at {root}), {len(idx)} images, seed {seed}", names)


def _subsample(n_total: int, n: int | None, seed: int) -> np.ndarray:
    if n is None or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


def _from_torchvision(ds, idx, classes, source, gray=False) -> Data:
    arr = ds.data[idx]
    arr = arr.numpy() if isinstance(arr, torch.Tensor) else np.asarray(arr)
    x = torch.from_numpy(arr).float().div(255)
    x = x.unsqueeze(1) if gray else x.permute(0, 3, 1, 2)
    y = torch.as_tensor(np.asarray(ds.targets)[idx]).long()
    return Data(x.contiguous(), y, tuple(classes), source)


def load_cifar10(split: str = "test", n: int | None = None, seed: int = 0, root: Path | None = None,
                 download: bool = True) -> Data:
    """CIFAR-10 (32x32 RGB in [0, 1]).

    Order of preference: the real CIFAR-10 already on disk (torchvision layout), the offline JPEG copy
    (lossy, said so in `source`), then torchvision's own download of the real one.
    """
    from torchvision.datasets import CIFAR10
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root or data_root())
    try:
        ds = CIFAR10(str(root), train=split == "train", download=False)
        idx = _subsample(len(ds.targets), n, seed)
        return _from_torchvision(ds, idx, CIFAR10_CLASSES, f"CIFAR-10 {split} (original, torchvision)")
    except RuntimeError:
        pass
    jpeg = root / CIFAR10_JPEG_DIR / split
    if jpeg.is_dir():
        files = sorted((c, f) for c in CIFAR10_CLASSES for f in (jpeg / c).glob("*.jpg"))
        idx = _subsample(len(files), n, seed)
        x = torch.from_numpy(np.stack([np.asarray(Image.open(jpeg / files[i][0] / files[i][1].name).convert("RGB"))
                                       for i in idx])).permute(0, 3, 1, 2).float().div(255)
        y = torch.tensor([CIFAR10_CLASSES.index(files[i][0]) for i in idx])
        return Data(x.contiguous(), y, CIFAR10_CLASSES, f"CIFAR-10 {split}: {CIFAR10_JPEG_NOTE}")
    if download:
        try:
            ds = CIFAR10(str(root), train=split == "train", download=True)
        except Exception as e:  # no network: fall through to the clear error below
            raise _missing("CIFAR-10", root / "cifar-10-batches-py",
                           f"torchvision's download failed ({e}); run `make data` for the offline copy.") from e
        idx = _subsample(len(ds.targets), n, seed)
        return _from_torchvision(ds, idx, CIFAR10_CLASSES, f"CIFAR-10 {split} (original, torchvision download)")
    raise _missing("CIFAR-10", root / "cifar-10-batches-py",
                   "Run `make data` for the offline copy, or call with download=True on a machine with internet.")


def _load_mnist_like(cls, name: str, split: str, n, seed, root, download) -> Data:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root or data_root())
    raw = root / name / "raw"
    local = (raw / "t10k-labels-idx1-ubyte").is_file()
    try:
        # With the verified .gz files in raw/ (as `make data` lays them out) this extracts and downloads nothing.
        ds = cls(str(root), train=split == "train", download=download and not local)
    except Exception as e:
        raise _missing(name, raw, f"{e}. Run `make data` (Fashion-MNIST: Debian package dataset-fashion-mnist) "
                                  "or call on a machine with internet.") from e
    debian = name == "FashionMNIST" and local and FASHION_MNIST_DEBIAN.is_dir()
    origin = f"Debian package dataset-fashion-mnist ({FASHION_MNIST_DEBIAN})" if debian else "torchvision"
    idx = _subsample(len(ds.targets), n, seed)
    return _from_torchvision(ds, idx, ds.classes, f"{name} {split} (original files via {origin})", gray=True)


def load_fashion_mnist(split: str = "test", n: int | None = None, seed: int = 0, root: Path | None = None,
                       download: bool = True) -> Data:
    """Fashion-MNIST (28x28 grey in [0, 1]), the original files; offline from the Debian package."""
    from torchvision.datasets import FashionMNIST
    return _load_mnist_like(FashionMNIST, "FashionMNIST", split, n, seed, root, download)


def load_mnist(split: str = "test", n: int | None = None, seed: int = 0, root: Path | None = None,
               download: bool = True) -> Data:
    """MNIST through torchvision (needs internet the first time; no offline copy here)."""
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
