"""IDX reader/writer: round trips and one clear error per kind of damage."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from harness.errors import DataError
from harness_datasets.idx import check_counts, encode_idx, read_idx, write_idx


def idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    """Build IDX bytes by hand, independently of the module under test."""
    return struct.pack(f">I{len(dims)}I", magic, *dims) + payload


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)


@pytest.fixture
def labels() -> np.ndarray:
    return np.array([3, 1, 4, 1, 5], dtype=np.uint8)


def assert_one_line_error(excinfo: pytest.ExceptionInfo, path, *fragments: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_round_trip_images_and_labels(tmp_path, images, labels):
    write_idx(tmp_path / "imgs", images)
    write_idx(tmp_path / "lbls", labels)
    got_images = read_idx(tmp_path / "imgs", kind="images")
    got_labels = read_idx(tmp_path / "lbls", kind="labels")
    assert got_images.dtype == np.uint8 and got_images.shape == (5, 28, 28)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    got_images[0, 0, 0] = 7  # the returned array is a writable copy


def test_written_bytes_are_canonical(tmp_path, images, labels):
    write_idx(tmp_path / "imgs", images)
    assert (tmp_path / "imgs").read_bytes() == idx_bytes(2051, (5, 28, 28), images.tobytes())
    assert encode_idx(labels) == idx_bytes(2049, (5,), labels.tobytes())


def test_gzip_is_detected_by_content_not_name(tmp_path, images):
    path = tmp_path / "plain-name-without-gz"
    path.write_bytes(gzip.compress(idx_bytes(2051, images.shape, images.tobytes())))
    np.testing.assert_array_equal(read_idx(path), images)
    named_gz = tmp_path / "really-plain.gz"
    named_gz.write_bytes(idx_bytes(2051, images.shape, images.tobytes()))
    np.testing.assert_array_equal(read_idx(named_gz), images)


def test_bad_magic(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(1234, (1,), b"\x00"))
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert_one_line_error(excinfo, path, "bad magic number 1234; expected 2051 (images) or 2049 (labels)")


def test_wrong_kind(tmp_path, labels, images):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(2049, labels.shape, labels.tobytes()))
    with pytest.raises(DataError) as excinfo:
        read_idx(path, kind="images")
    assert_one_line_error(excinfo, path, "expected images (magic 2051) but found labels (magic 2049)")
    other = tmp_path / "labels"
    other.write_bytes(idx_bytes(2051, images.shape, images.tobytes()))
    with pytest.raises(DataError, match="expected labels"):
        read_idx(other, kind="labels")


def test_unknown_kind_is_a_programming_error(tmp_path):
    with pytest.raises(ValueError):
        read_idx(tmp_path / "x", kind="pictures")


def test_truncated_payload(tmp_path, images):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(idx_bytes(2051, images.shape, images.tobytes()[:-10]))
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert_one_line_error(excinfo, path, "truncated", f"payload has {images.size - 10} bytes", "5x28x28")


def test_dims_whose_product_wraps_around_in_int64_are_still_truncated(tmp_path):
    # 2**22 * 2**21 * 2**21 == 2**64: an int64 product wraps to 0 and would accept an empty payload.
    path = tmp_path / "evil-images-idx3-ubyte"
    path.write_bytes(idx_bytes(2051, (2**22, 2**21, 2**21), b""))
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert_one_line_error(excinfo, path, "truncated", "payload has 0 bytes", f"need {2**64}")


def test_trailing_bytes(tmp_path, labels):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(2049, labels.shape, labels.tobytes() + b"xyz"))
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert_one_line_error(excinfo, path, "3 trailing bytes")


@pytest.mark.parametrize("data", [b"", b"\x00\x00", struct.pack(">II", 2051, 5)])
def test_truncated_header(tmp_path, data):
    path = tmp_path / "short"
    path.write_bytes(data)
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert_one_line_error(excinfo, path, "truncated IDX header")


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"this is not deflate data" * 4)
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert_one_line_error(excinfo, path, "corrupt gzip data")


def test_truncated_gzip(tmp_path, images):
    compressed = gzip.compress(idx_bytes(2051, images.shape, images.tobytes()))
    path = tmp_path / "cut.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert_one_line_error(excinfo, path, "corrupt gzip data")


def test_gzip_of_garbage_reports_magic(tmp_path):
    path = tmp_path / "g.gz"
    path.write_bytes(gzip.compress(b"\xde\xad\xbe\xef" + b"\x00" * 8))
    with pytest.raises(DataError, match="bad magic number 3735928559"):
        read_idx(path)


def test_missing_file(tmp_path):
    path = tmp_path / "absent"
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert_one_line_error(excinfo, path, "cannot read IDX file")


@pytest.mark.parametrize(
    "array",
    [np.zeros((2, 28, 28), dtype=np.float32), np.zeros((2, 3), dtype=np.uint8), np.uint8(3)],
)
def test_write_rejects_non_idx_arrays_and_writes_nothing(tmp_path, array):
    path = tmp_path / "out"
    with pytest.raises(DataError, match="accepted: uint8 with 3 dims"):
        write_idx(path, array)
    assert list(tmp_path.iterdir()) == []


def test_write_leaves_no_temp_file(tmp_path, labels):
    write_idx(tmp_path / "lbls", labels)
    assert [p.name for p in tmp_path.iterdir()] == ["lbls"]


def test_check_counts(images, labels):
    check_counts(images, labels, "train split")
    with pytest.raises(DataError, match="train split: 5 images but 4 labels"):
        check_counts(images, labels[:4], "train split")
