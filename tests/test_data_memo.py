"""A process verifies and reads the cached data files once, not once per job of a sweep."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from harness_datasets import images, memo, sources
from harness_datasets.idx import encode_idx
from harness_datasets.mnist import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS


@pytest.fixture(autouse=True)
def fresh_memo(monkeypatch):
    monkeypatch.setattr(memo, "_verified", {})
    monkeypatch.setattr(memo, "_arrays", {})


@pytest.fixture
def hashes(monkeypatch):
    """The files ``check_cache`` hashes, in order."""
    hashed = []
    real = sources.sha256_file

    def counting(path):
        hashed.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(sources, "sha256_file", counting)
    return hashed


def dataset_of(directory, files: dict[str, bytes]) -> sources.DatasetSpec:
    for name, data in files.items():
        (directory / name).write_bytes(data)
    specs = tuple(sources.FileSpec(name, hashlib.sha256(data).hexdigest(), len(data)) for name, data in files.items())
    return sources.DatasetSpec("fake", "Fake", specs)


def test_a_large_file_is_hashed_once_per_process_until_it_changes(tmp_path, hashes):
    big = bytearray(np.random.default_rng(0).bytes(2 * memo.HASH_ALWAYS_BELOW))
    dataset = dataset_of(tmp_path, {"images": bytes(big), "labels": b"0123456789"})
    for _ in range(3):
        assert sources.check_cache(dataset, tmp_path) == []
    assert hashes == ["images", "labels", "labels", "labels"]  # small files: every time
    # Replaced by a rename, as the cache is written: a new file, hashed again.
    (tmp_path / "images.new").write_bytes(big)
    os.replace(tmp_path / "images.new", tmp_path / "images")
    assert sources.check_cache(dataset, tmp_path) == []
    assert hashes[-2:] == ["images", "labels"]
    # Changed in place (same inode, same size), even with its modification time put back:
    # the change time still differs, so it is hashed again, refused and deleted.
    stat = os.stat(tmp_path / "images")
    with open(tmp_path / "images", "r+b") as handle:
        handle.seek(len(big) - 1)
        handle.write(bytes([big[-1] ^ 0xFF]))
    os.utime(tmp_path / "images", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert [s.name for s in sources.check_cache(dataset, tmp_path)] == ["images"]
    assert hashes[-2:] == ["images", "labels"] and not (tmp_path / "images").exists()


def tiny_idx_files(directory) -> dict[str, object]:
    rng = np.random.default_rng(2)
    arrays = {
        TRAIN_IMAGES: rng.integers(0, 256, (60, 28, 28), dtype=np.uint8), TRAIN_LABELS: rng.integers(0, 10, 60, dtype=np.uint8),
        TEST_IMAGES: rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), TEST_LABELS: rng.integers(0, 10, 20, dtype=np.uint8),
    }
    paths = {}
    for name, array in arrays.items():
        paths[name] = directory / name
        paths[name].write_bytes(encode_idx(array))
    return paths


def test_image_files_are_read_once_per_process_and_each_load_gets_its_own_arrays(tmp_path, monkeypatch):
    paths = tiny_idx_files(tmp_path)
    reads = []
    real = images.read_mnist_files

    def counting(*args, **kwargs):
        reads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(images, "read_mnist_files", counting)
    files = images.ImageFiles(sources.DatasetSpec("fake", "Fake", ()), fetch=lambda **_: paths)
    dataset = images.ImageDataset(files, val_size=10, train_size=30, test_size=15)
    first, second = dataset.load(), dataset.load()
    assert len(reads) == 1
    for split in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
        a, b = getattr(first, split), getattr(second, split)
        assert np.array_equal(a, b) and a.flags.writeable and not np.shares_memory(a, b)
    assert first.sizes() == {"train": 30, "val": 10, "test": 15}
    # What the old split of whole image arrays gave: the same rows, the same values.
    raw = real(paths, "Fake")
    order = np.random.default_rng(0).permutation(60)
    kept = np.sort(order[10:])[:30]
    assert np.array_equal(first.train_x, raw.train_images.reshape(60, -1)[kept].astype(np.float32) * np.float32(1 / 255))
    assert np.array_equal(first.val_y, raw.train_labels[np.sort(order[:10])])
    # The shared arrays cannot be changed by one job under another.
    (shared,) = memo._arrays.values()
    assert not shared.train_images.flags.writeable
