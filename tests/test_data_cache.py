"""Cache root resolution, atomic writes and SHA-256 checks."""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path

import pytest

from harness.errors import DataError
from harness_datasets import cache
from harness_datasets.cache import atomic_write, cache_root, ensure_dir, sha256_file, verify_sha256


def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    assert cache_root() == tmp_path / "home" / ".cache" / "harness"
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert cache_root(str(tmp_path / "arg")) == tmp_path / "arg"


def test_cache_root_ignores_empty_values(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HARNESS_DATA_DIR", "")
    assert cache_root("") == tmp_path / ".cache" / "harness"


def test_cache_root_expands_user(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HARNESS_DATA_DIR", "~/data")
    assert cache_root() == tmp_path / "data"


def test_ensure_dir_creates_parents(tmp_path):
    target = tmp_path / "a" / "b"
    assert ensure_dir(target) == target
    assert target.is_dir()


def test_ensure_dir_with_a_file_in_the_way(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    for target in (blocker, blocker / "sub"):
        with pytest.raises(DataError) as excinfo:
            ensure_dir(target)
        message = str(excinfo.value)
        assert str(target) in message and "HARNESS_DATA_DIR" in message and "\n" not in message


def test_ensure_dir_not_writable(tmp_path, monkeypatch):
    monkeypatch.setattr(cache.os, "access", lambda path, mode: False)
    with pytest.raises(DataError, match="data directory is not writable"):
        ensure_dir(tmp_path)


def test_atomic_write_bytes_and_writer(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    atomic_write(target, b"hello")
    assert target.read_bytes() == b"hello"
    atomic_write(target, lambda handle: handle.write(b"replaced"))
    assert target.read_bytes() == b"replaced"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


def test_atomic_write_respects_umask_not_mkstemp_mode(tmp_path):
    target = tmp_path / "f"
    atomic_write(target, b"x")
    from harness import files

    assert target.stat().st_mode & 0o777 == files._FILE_MODE


class Boom(RuntimeError):
    pass


def test_failing_writer_leaves_no_partial_target(tmp_path):
    target = tmp_path / "new.bin"

    def writer(handle):
        handle.write(b"half of it")
        raise Boom("writer failed")

    with pytest.raises(Boom):
        atomic_write(target, writer)
    assert list(tmp_path.iterdir()) == []


def test_failing_writer_keeps_previous_target(tmp_path):
    target = tmp_path / "old.bin"
    target.write_bytes(b"complete old content")

    def writer(handle):
        handle.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, writer)
    assert target.read_bytes() == b"complete old content"
    assert [p.name for p in tmp_path.iterdir()] == ["old.bin"]


def test_disk_full_is_a_one_line_data_error(tmp_path):
    target = tmp_path / "big.bin"

    def writer(handle):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(DataError) as excinfo:
        atomic_write(target, writer)
    assert str(excinfo.value) == f"{target}: cannot write: no space left on device"
    assert list(tmp_path.iterdir()) == []


def test_permission_error_is_a_one_line_data_error(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    target = tmp_path / "f.bin"
    with pytest.raises(DataError) as excinfo:
        atomic_write(target, b"x")
    assert str(excinfo.value) == f"{target}: cannot write: permission denied"


def test_failed_rename_removes_temp(tmp_path, monkeypatch):
    def fail_replace(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(cache.os, "replace", fail_replace)
    with pytest.raises(DataError, match="cannot write: Invalid cross-device link"):
        atomic_write(tmp_path / "f", b"x")
    assert list(tmp_path.iterdir()) == []


def test_sha256_file_matches_hashlib(tmp_path):
    data = os.urandom(3 << 20)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_verify_sha256(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"abc")
    good = hashlib.sha256(b"abc").hexdigest()
    assert verify_sha256(path, good.upper()) == good
    wrong = "0" * 64
    with pytest.raises(DataError) as excinfo:
        verify_sha256(path, wrong)
    assert str(excinfo.value) == f"{path}: SHA-256 mismatch: expected {wrong}, got {good}"


def test_sha256_of_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        sha256_file(Path(tmp_path / "missing"))
