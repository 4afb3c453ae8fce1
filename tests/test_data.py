"""Tests of ddpm_course.data: IDX parsing, the download path and the loader.

No network: mirrors are file:// URLs of temp folders holding synthetic fixture files,
and an "offline" mirror is a file:// path that does not exist.
"""
from __future__ import annotations

import ast
import gzip
import hashlib
import inspect
import struct
from pathlib import Path

import PIL.Image
import pytest
import torch

from ddpm_course import data
from ddpm_course.data import (FASHION_MNIST_CLASSES, FILES, DatasetUnavailable, IDXFormatError,
                              default_root, download_fashion_mnist, load_fashion_mnist,
                              make_fixture, read_idx, write_idx)

NAMES = [name for pair in FILES.values() for name in pair]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Keep every test away from the real cache folder and the real mirrors."""
    monkeypatch.setenv("DDPM_COURSE_DATA", str(tmp_path / "default-cache"))
    monkeypatch.setattr(data, "MIRRORS", ((tmp_path / "no-such-mirror").as_uri(),))


@pytest.fixture
def mirror(tmp_path) -> tuple[str, dict[str, str]]:
    """A file:// mirror of synthetic fixture files, and their MD5s."""
    folder = make_fixture(tmp_path / "mirror", n_train=20, n_test=10)
    md5 = {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in NAMES}
    return folder.as_uri(), md5


def _offline(tmp_path: Path) -> str:
    return (tmp_path / "offline").as_uri()


def test_class_names():
    """Are the ten class names in label order?"""
    assert FASHION_MNIST_CLASSES[0] == "T-shirt/top"
    assert FASHION_MNIST_CLASSES[9] == "Ankle boot"
    assert len(FASHION_MNIST_CLASSES) == 10


def test_no_torchvision():
    """Does the module get by without importing torchvision?"""
    tree = ast.parse(inspect.getsource(data))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(m.split(".")[0] == "torchvision" for m in imported)


@pytest.mark.parametrize("name", ["x.idx", "x.idx.gz"])
@pytest.mark.parametrize("shape", [(5, 28, 28), (7,), (0, 28, 28)])
def test_round_trip(tmp_path, name, shape):
    """Does a uint8 tensor survive write_idx then read_idx, plain or gzipped?"""
    x = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    write_idx(tmp_path / name, x)
    assert (tmp_path / name).read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\0\0")
    y = read_idx(tmp_path / name, ndim=len(shape))
    assert y.dtype == torch.uint8 and torch.equal(x, y)


def test_gzip_detected_by_magic_not_name(tmp_path):
    """Is a gzipped file read correctly even when its name lacks .gz?"""
    x = torch.arange(12, dtype=torch.uint8).reshape(3, 4)
    write_idx(tmp_path / "x.gz", x)
    (tmp_path / "x.gz").rename(tmp_path / "x")
    assert torch.equal(read_idx(tmp_path / "x"), x)


def test_write_idx_rejects_other_dtypes(tmp_path):
    """Does write_idx refuse a non-uint8 tensor instead of writing a wrong file?"""
    with pytest.raises(TypeError, match="uint8"):
        write_idx(tmp_path / "x.idx", torch.zeros(3, dtype=torch.float32))


@pytest.mark.parametrize("content, match", [
    (b"<html>404 Not Found</html>", "bad magic"),
    (b"\0\0", "bad magic"),
    (b"\0\0\x0d\x01" + struct.pack(">I", 2) + b"\0" * 8, r"dtype byte is 0x0d"),
    (b"\0\0\x08\x03" + struct.pack(">I", 2), "header truncated"),
])
def test_malformed_header(tmp_path, content, match):
    """Does a file with a bad magic, dtype byte or header fail with a message that names it?"""
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(IDXFormatError, match=match) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_wrong_number_of_dims(tmp_path):
    """Does a labels file read where images are expected fail on its magic number?"""
    write_idx(tmp_path / "labels", torch.zeros(4, dtype=torch.uint8))
    with pytest.raises(IDXFormatError, match="0x00000801, expected 0x00000803"):
        read_idx(tmp_path / "labels", ndim=3)


@pytest.mark.parametrize("name", ["images", "images.gz"])
@pytest.mark.parametrize("delta, found", [(-100, 2252), (+5, 2357)])
def test_wrong_payload_length(tmp_path, name, delta, found):
    """Does a truncated or over-long image file fail with a message that names it?"""
    write_idx(tmp_path / "images", torch.zeros(3, 28, 28, dtype=torch.uint8))
    raw = (tmp_path / "images").read_bytes()
    raw = raw[:delta] if delta < 0 else raw + b"\0" * delta
    (tmp_path / name).write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)
    with pytest.raises(IDXFormatError, match=f"expected 2352 bytes of pixel data.*found {found}") as err:
        read_idx(tmp_path / name)
    assert str(tmp_path / name) in str(err.value)


def test_corrupt_gzip(tmp_path):
    """Does a gzip stream cut short fail as an IDX format error naming the file?"""
    write_idx(tmp_path / "x.gz", torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8,
                                               generator=torch.Generator().manual_seed(0)))
    (tmp_path / "x.gz").write_bytes((tmp_path / "x.gz").read_bytes()[:500])
    with pytest.raises(IDXFormatError, match="corrupt gzip") as err:
        read_idx(tmp_path / "x.gz")
    assert "x.gz" in str(err.value)


def test_download_from_mirror(tmp_path, mirror):
    """Are all four files fetched, verified and stored with no temp files left over?"""
    url, md5 = mirror
    dest = download_fashion_mnist(tmp_path / "cache", mirrors=[url], checksums=md5)
    assert sorted(p.name for p in dest.iterdir()) == sorted(NAMES)
    assert all((dest / n).read_bytes() == (tmp_path / "mirror" / n).read_bytes() for n in NAMES)


def test_second_mirror_used_when_first_fails(tmp_path, mirror):
    """When the first mirror is offline, is the second one used?"""
    url, md5 = mirror
    dest = download_fashion_mnist(tmp_path / "cache", mirrors=[_offline(tmp_path), url],
                                  checksums=md5)
    assert all(hashlib.md5((dest / n).read_bytes()).hexdigest() == md5[n] for n in NAMES)


def test_every_mirror_bad(tmp_path, mirror):
    """With a wrong checksum on every mirror, does the error name the file, URLs, MD5 and folder?"""
    url, md5 = mirror
    bad = {name: "0" * 32 for name in md5}
    mirrors = [_offline(tmp_path), url]
    with pytest.raises(DatasetUnavailable) as err:
        download_fashion_mnist(tmp_path / "cache", mirrors=mirrors, checksums=bad)
    msg = str(err.value)
    first = NAMES[0]
    assert first in msg and "0" * 32 in msg and str((tmp_path / "cache").resolve()) in msg
    assert f"{_offline(tmp_path)}/{first}" in msg and f"{url}/{first}" in msg
    assert "No such file" in msg and f"expected {'0' * 32}" in msg
    assert list((tmp_path / "cache").iterdir()) == []  # the bad download was not kept


class _BrokenResponse:
    """A response that delivers one chunk and then dies, like a dropped connection."""

    def __init__(self, exc: BaseException):
        self.headers, self.exc, self.sent = {"Content-Length": "1000"}, exc, False

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False

    def read(self, n: int) -> bytes:
        if self.sent:
            raise self.exc
        self.sent = True
        return b"\0" * 100


@pytest.mark.parametrize("exc", [ConnectionResetError("reset by peer"), KeyboardInterrupt()])
def test_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch, exc):
    """Does a download cut off mid-stream (or by Ctrl-C) leave neither a half file nor a temp file?"""
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: _BrokenResponse(exc))
    cache = tmp_path / "cache"
    with pytest.raises((DatasetUnavailable, KeyboardInterrupt)) as err:
        download_fashion_mnist(cache, mirrors=["http://example.invalid/"])
    if isinstance(exc, ConnectionResetError):
        assert "reset by peer" in str(err.value)
    assert list(cache.iterdir()) == []


def test_cached_file_reused(tmp_path, mirror, monkeypatch):
    """Are valid files already in the folder reused without any download?"""
    url, md5 = mirror
    cache = make_fixture(tmp_path / "cache", n_train=20, n_test=10)
    before = {n: (cache / n).stat().st_mtime_ns for n in NAMES}

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download a file that was already there")
    monkeypatch.setattr(data.urllib.request, "urlopen", no_network)
    assert download_fashion_mnist(cache, mirrors=[url], checksums=md5) == cache
    assert {n: (cache / n).stat().st_mtime_ns for n in NAMES} == before


def test_corrupt_cached_file_replaced(tmp_path, mirror):
    """Is a cached file with the wrong MD5 downloaded again rather than trusted?"""
    url, md5 = mirror
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / NAMES[0]).write_bytes(b"garbage")
    download_fashion_mnist(cache, mirrors=[url], checksums=md5)
    assert hashlib.md5((cache / NAMES[0]).read_bytes()).hexdigest() == md5[NAMES[0]]


def test_missing_file_without_download(tmp_path):
    """With download=False and no files, is the error helpful: file, MD5 and folder?"""
    with pytest.raises(DatasetUnavailable) as err:
        load_fashion_mnist("test", root=tmp_path / "empty", download=False)
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and data.MD5["t10k-images-idx3-ubyte.gz"] in msg
    assert str((tmp_path / "empty").resolve()) in msg and "download=False" in msg
    assert not (tmp_path / "empty").exists()


@pytest.mark.parametrize("split, n", [("train", 20), ("test", 10)])
def test_load_fixture(tmp_path, split, n):
    """Does load_fashion_mnist(verify=False) on a fixture give (N, 28, 28) uint8 and (N,) int64?"""
    make_fixture(tmp_path, n_train=20, n_test=10)
    images, labels = load_fashion_mnist(split, root=tmp_path, download=False, verify=False)
    assert images.shape == (n, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (n,) and labels.dtype == torch.int64
    assert 0 <= int(labels.min()) and int(labels.max()) <= 9


def test_fixture_fails_md5_check(tmp_path):
    """Are the synthetic fixture files refused when verification is on?"""
    make_fixture(tmp_path)
    with pytest.raises(DatasetUnavailable, match="is present but its MD5 is"):
        load_fashion_mnist("train", root=tmp_path, download=False)


def test_load_downloads_missing_files(tmp_path, mirror, monkeypatch):
    """Does load_fashion_mnist fetch missing files from the mirrors and then load them?"""
    url, md5 = mirror
    monkeypatch.setattr(data, "MIRRORS", (_offline(tmp_path), url))
    monkeypatch.setattr(data, "MD5", md5)
    images, labels = load_fashion_mnist("test", root=tmp_path / "cache")
    assert images.shape == (10, 28, 28) and labels.shape == (10,)


def test_fixture_is_deterministic(tmp_path):
    """Does the same seed give byte-identical fixture files, and another seed different ones?"""
    a, b, c = (make_fixture(tmp_path / d, seed=s) for d, s in [("a", 0), ("b", 0), ("c", 1)])
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in NAMES)
    assert (a / NAMES[0]).read_bytes() != (c / NAMES[0]).read_bytes()


@pytest.mark.parametrize("images, labels, match", [
    (torch.zeros(4, 28, 28), torch.zeros(3), "4 images but .* 3 labels"),
    (torch.zeros(2, 28, 28), torch.tensor([1, 10]), "label 10 is outside 0..9"),
    (torch.zeros(2, 32, 32), torch.zeros(2), r"shape \(N, 28, 28\)"),
])
def test_inconsistent_split(tmp_path, images, labels, match):
    """Are mismatched counts, out-of-range labels and wrong image sizes refused?"""
    write_idx(tmp_path / FILES["train"][0], images.to(torch.uint8))
    write_idx(tmp_path / FILES["train"][1], labels.to(torch.uint8))
    with pytest.raises(IDXFormatError, match=match):
        load_fashion_mnist("train", root=tmp_path, download=False, verify=False)


def test_bad_split():
    """Is an unknown split name refused with the valid choices?"""
    with pytest.raises(ValueError, match="train"):
        load_fashion_mnist("validation", download=False)


def test_env_var_root(tmp_path, monkeypatch):
    """Is DDPM_COURSE_DATA honoured as the default folder, and ~/.cache used without it?"""
    monkeypatch.setenv("DDPM_COURSE_DATA", str(tmp_path / "from-env"))
    assert default_root() == tmp_path / "from-env"
    make_fixture(tmp_path / "from-env", n_train=5, n_test=5)
    images, _ = load_fashion_mnist("train", download=False, verify=False)
    assert images.shape == (5, 28, 28)
    monkeypatch.delenv("DDPM_COURSE_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_root() == tmp_path / ".cache" / "ddpm_course" / "fashion-mnist"


def write_sprite(path, tiles: torch.Tensor) -> None:
    """Save uint8 tiles (rows, columns, h, w) as one grey PNG grid, the layout of the Fashion-MNIST sprite."""
    rows, columns, h, w = tiles.shape
    grid = tiles.permute(0, 2, 1, 3).reshape(rows * h, columns * w).numpy()
    PIL.Image.fromarray(grid).save(path)  # 8-bit grey, exact (a matplotlib colormap would round some values)


def test_sprite_splits_rows_by_class_and_keeps_pixel_values(tmp_path):
    """Does a sprite with 3 rows per class give the first 2 rows of each class as train, the last as test,
    labelled by class in row order, with the exact grey values?"""
    tiles = torch.randint(0, 256, (6, 4, 5, 5), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    write_sprite(tmp_path / "sprite.png", tiles)
    train_images, train_labels = data.load_sprite(tmp_path / "sprite.png", "train", tile=5)
    test_images, test_labels = data.load_sprite(tmp_path / "sprite.png", "test", tile=5)
    assert train_images.dtype == torch.uint8 and train_images.shape == (16, 5, 5) and test_images.shape == (8, 5, 5)
    assert train_labels.tolist() == [0] * 8 + [1] * 8 and test_labels.tolist() == [0] * 4 + [1] * 4
    assert torch.equal(train_images, torch.cat([tiles[0], tiles[1], tiles[3], tiles[4]]))
    assert torch.equal(test_images, torch.cat([tiles[2], tiles[5]]))


@pytest.mark.parametrize(("shape", "message"), [((2, 2, 5, 5), "not 3 rows per class"),
                                                 ((3, 2, 5, 5), "not a grid of 4x4 tiles")])
def test_a_sprite_of_the_wrong_layout_is_refused_with_the_reason(tmp_path, shape, message):
    """Is a picture that is not a grid of whole tiles, or whose rows do not split into classes, refused by name?"""
    write_sprite(tmp_path / "sprite.png", torch.zeros(shape, dtype=torch.uint8))
    tile = 4 if "4x4" in message else 5
    with pytest.raises(ValueError, match=message):
        data.load_sprite(tmp_path / "sprite.png", tile=tile)
