"""Fashion-MNIST, loaded by hand from the four official IDX files (no torchvision).

`load_fashion_mnist("train")` returns uint8 images (N, 28, 28) and int64 labels (N,).
Missing files are downloaded from `MIRRORS`, checked against the official MD5 sums and
cached in `default_root()` (the env var DDPM_COURSE_DATA, else
~/.cache/ddpm_course/fashion-mnist). When no mirror works, `DatasetUnavailable` says
what was tried and where to put the files by hand; there is never a fallback to fake
data. `make_fixture` writes small *synthetic* stand-in files for tests and CPU CI.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import struct
import tempfile
import urllib.request
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.image
import numpy as np
import torch
from tqdm import tqdm  # text bars: readable wherever widgets cannot render

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}

# Official sums from the zalandoresearch/fashion-mnist README (same as torchvision's).
MD5 = {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
       "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
       "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
       "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}

# The S3 website endpoint only speaks plain http; the MD5 check is what guards integrity.
MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
           "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")

TIMEOUT_S = 30
_IDX_UINT8 = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


class IDXFormatError(ValueError):
    """An IDX file is malformed; the message names the file and what is wrong."""


class DatasetUnavailable(RuntimeError):
    """A dataset file is missing and could not be obtained; the message says how to fix it."""


class _ChecksumMismatch(ValueError):
    """A downloaded file's MD5 differs from the official one."""


def default_root() -> Path:
    """The cache folder: $DDPM_COURSE_DATA if set, else ~/.cache/ddpm_course/fashion-mnist."""
    env = os.environ.get("DDPM_COURSE_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ddpm_course" / "fashion-mnist"


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> torch.Tensor:
    """Parse a uint8 IDX file (gzipped or not) into a tensor of the shape in its header.

    `ndim`, if given, is the required number of dims (3 for images, 1 for labels).
    Raises `IDXFormatError` for a bad magic number, dtype byte or payload length.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise IDXFormatError(f"{path}: corrupt gzip stream ({err})") from err
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise IDXFormatError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()!r})")
    dtype, n_dims = raw[2], raw[3]
    if dtype != _IDX_UINT8:
        raise IDXFormatError(f"{path}: dtype byte is 0x{dtype:02x}, expected 0x08 (uint8)")
    if ndim is not None and n_dims != ndim:
        raise IDXFormatError(f"{path}: magic number is 0x{int.from_bytes(raw[:4], 'big'):08x}, "
                             f"expected 0x{0x800 + ndim:08x} ({ndim} dims)")
    header = 4 + 4 * n_dims
    if len(raw) < header:
        raise IDXFormatError(f"{path}: header truncated, expected {header} bytes, found {len(raw)}")
    shape = struct.unpack(f">{n_dims}I", raw[4:header])
    expected, found = math.prod(shape), len(raw) - header
    if found != expected:
        kind = "label" if n_dims == 1 else "pixel"
        raise IDXFormatError(f"{path}: expected {expected} bytes of {kind} data for shape "
                             f"{tuple(shape)}, found {found}")
    # .copy() because `raw` is read-only and torch tensors must be writable.
    return torch.from_numpy(np.frombuffer(raw, np.uint8, offset=header).copy()).reshape(shape)


def write_idx(path: str | os.PathLike, tensor: torch.Tensor) -> None:
    """Write a uint8 tensor of any shape as an IDX file, gzipped if `path` ends in .gz."""
    if tensor.dtype != torch.uint8:
        raise TypeError(f"write_idx needs a uint8 tensor, got {tensor.dtype}")
    header = bytes([0, 0, _IDX_UINT8, tensor.ndim]) + struct.pack(f">{tensor.ndim}I", *tensor.shape)
    data = header + tensor.contiguous().numpy().tobytes()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)  # mtime=0 keeps fixture bytes (and MD5s) reproducible
    Path(path).write_bytes(data)


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, dest: Path, md5: str) -> None:
    """Download `url` to `dest`, verified, via a temp file so `dest` is never half-written."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.md5()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if digest.hexdigest() != md5:
            raise _ChecksumMismatch(f"MD5 is {digest.hexdigest()}, expected {md5}")
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _ensure_file(dest: Path, mirrors: Sequence[str], md5: str, verify: bool = True) -> None:
    """Make `dest` exist (and match `md5` if `verify`), downloading it if needed."""
    failures = []
    if dest.exists():
        if not verify or (got := _md5(dest)) == md5:
            return
        failures.append(f"{dest} is present but its MD5 is {got}")
    if mirrors:
        dest.parent.mkdir(parents=True, exist_ok=True)
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{dest.name}"
        try:
            _fetch(url, dest, md5)
            return
        except (OSError, http.client.HTTPException, ValueError) as err:
            failures.append(f"{url}: {type(err).__name__}: {err}")
    raise DatasetUnavailable(_unavailable_message(dest, md5, failures))


def _unavailable_message(dest: Path, md5: str, failures: Sequence[str]) -> str:
    tried = "\n".join(f"    - {f}" for f in failures) or "    - nothing (download=False)"
    return (f"Fashion-MNIST file {dest.name!r} is not available.\n"
            f"  Tried:\n{tried}\n"
            f"  Expected MD5: {md5}\n"
            f"  Fix: place the official files ({', '.join(MD5)}) by hand in\n"
            f"    {dest.parent.resolve()}\n"
            f"  (or set DDPM_COURSE_DATA to a folder that holds them). "
            f"They are linked from https://github.com/zalandoresearch/fashion-mnist#get-the-data")


def download_fashion_mnist(root: str | os.PathLike | None = None,
                           mirrors: Sequence[str] = MIRRORS,
                           checksums: Mapping[str, str] = MD5) -> Path:
    """Make sure the four official .gz files are in `root` (default `default_root()`).

    Present files are MD5-checked and reused; missing or bad ones are fetched from each
    mirror in turn. Returns the folder. Raises `DatasetUnavailable` if any file fails.
    """
    folder = Path(root) if root is not None else default_root()
    for name, md5 in checksums.items():
        _ensure_file(folder / name, mirrors, md5)
    return folder


def load_fashion_mnist(split: str = "train", root: str | os.PathLike | None = None,
                       download: bool = True, verify: bool = True
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split: images uint8 (N, 28, 28) and labels int64 (N,), N = 60000 / 10000.

    `verify=False` skips the MD5 check of files already present, which is only meant for
    the synthetic `make_fixture` files; anything downloaded is always verified.
    """
    if split not in FILES:
        raise ValueError(f"split must be one of {sorted(FILES)}, got {split!r}")
    folder = Path(root) if root is not None else default_root()
    paths = [folder / name for name in FILES[split]]
    for path in paths:
        _ensure_file(path, MIRRORS if download else (), MD5[path.name], verify)
    images, labels = read_idx(paths[0], ndim=3), read_idx(paths[1], ndim=1)
    if images.shape[1:] != (28, 28):
        raise IDXFormatError(f"{paths[0]}: expected images of shape (N, 28, 28), "
                             f"found {tuple(images.shape)}")
    if len(images) != len(labels):
        raise IDXFormatError(f"{paths[0]} holds {len(images)} images but "
                             f"{paths[1]} holds {len(labels)} labels")
    if len(labels) and int(labels.max()) >= len(FASHION_MNIST_CLASSES):
        raise IDXFormatError(f"{paths[1]}: label {int(labels.max())} is outside 0..9")
    return images, labels.long()


def make_fixture(root: str | os.PathLike, n_train: int = 64, n_test: int = 16,
                 seed: int = 0) -> Path:
    """Write SYNTHETIC stand-in files (NOT Fashion-MNIST) under the official names in `root`.

    Each image (28, 28) is uint8 noise with a bright vertical band whose position encodes
    its label, so shapes, dtypes and labels behave like the real data while the files
    stay tiny and deterministic for a given `seed`. Their MD5s differ from the official
    ones: load them with `load_fashion_mnist(..., download=False, verify=False)`.
    Returns the folder.
    """
    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = torch.randint(0, 10, (n,), generator=gen)
        noise = torch.randint(0, 64, (n, 28, 28), generator=gen, dtype=torch.uint8)
        band = torch.arange(28) * 10 // 28 == labels[:, None]  # (n, 28): columns of class k
        images = torch.where(band[:, None, :], torch.tensor(255, dtype=torch.uint8), noise)
        image_name, label_name = FILES[split]
        write_idx(folder / image_name, images)
        write_idx(folder / label_name, labels.to(torch.uint8))
    return folder


SPRITE_ENV = "DDPM_COURSE_SPRITE"


def load_sprite(path: str | os.PathLike, split: str = "train", tile: int = 28,
                rows_per_class: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Real images from a sprite sheet: a PNG grid of tile x tile images, `rows_per_class` rows per
    class in label order (as the Fashion-MNIST repository's 30x30 sprite of 900 images).

    For developing without the full data set: "train" is the first rows_per_class - 1 rows of each
    class, "test" the last one. Returns uint8 images (N, tile, tile) and int64 labels (N,).
    """
    if split not in FILES:
        raise ValueError(f"split must be one of {sorted(FILES)}, got {split!r}")
    picture = matplotlib.image.imread(Path(path))  # float in [0, 1], (H, W) or (H, W, channels)
    grey = picture if picture.ndim == 2 else picture[..., 0]
    height, width = grey.shape
    if height % tile or width % tile:
        raise ValueError(f"{path}: a {width}x{height} picture is not a grid of {tile}x{tile} tiles")
    rows, columns = height // tile, width // tile
    if rows % rows_per_class:
        raise ValueError(f"{path}: {rows} rows of tiles are not {rows_per_class} rows per class")
    tiles = torch.from_numpy((grey * 255).round().astype(np.uint8))
    tiles = tiles.reshape(rows, tile, columns, tile).permute(0, 2, 1, 3)  # (row, column, tile, tile)
    row = torch.arange(rows)
    last_of_class = row % rows_per_class == rows_per_class - 1
    keep = last_of_class if split == "test" else ~last_of_class
    labels = (row // rows_per_class)[keep].repeat_interleave(columns)
    return tiles[keep].reshape(-1, tile, tile), labels.long()
