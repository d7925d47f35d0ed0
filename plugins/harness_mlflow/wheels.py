"""Wheels of the distributions the package index cannot provide, for logged models.

A model served in an isolated environment installs its requirements from the index. A
distribution installed from a local folder (a checkout, ``pip install -e .``) or a local
file is on no index, so its wheel travels inside the model: MLflow's mechanism for
private libraries is a wheel listed in ``code_paths`` (copied to ``code/``) and named
``code/<file>.whl`` in the requirements.

Building a wheel takes seconds, so each is built once per source state and kept in
``~/.cache/harness/wheels/`` (``$XDG_CACHE_HOME``), keyed by name, version and a digest of
the source files (their paths, sizes and modification times; git's file list when the
source is a checkout, so ignored outputs do not count). Later runs, in any process, only
digest the source and copy the wheel. The build runs on a copy of the source (setuptools
writes ``build/`` into the folder it builds) without build isolation when the build
backend the project asks for is installed, so it needs no network then.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib.metadata import Distribution, PackageNotFoundError, version
from pathlib import Path
from urllib.parse import unquote, urlparse

from harness import TrackingError

log = logging.getLogger("harness.mlflow")
# Folders a walk of a non-git source skips: outputs, environments, caches, build products.
SKIP_DIRS = {"build", "dist", "outputs", "multirun", "mlruns", "mlartifacts", "node_modules", "__pycache__"}
_built: dict[tuple[str, str, str], Path] = {}  # this process's wheels, by (name, version, source digest)


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "harness" / "wheels"


def local_origin(dist: Distribution) -> Path | None:
    """The local folder or file ``dist`` was installed from (PEP 610), ``None`` for the index."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    url = json.loads(text).get("url", "")
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None  # a VCS or remote archive URL: the requirement names where to get it
    return Path(unquote(parsed.path))


def wheel_for(dist: Distribution) -> Path | None:
    """A wheel of ``dist`` if it came from a local source (built or cached), else ``None``."""
    origin = local_origin(dist)
    if origin is None:
        return None
    if origin.is_file() and origin.suffix == ".whl":
        return origin
    if not origin.exists():
        raise TrackingError(f"cannot bundle {dist.metadata['Name']}: it was installed from {origin}, which is gone")
    files = source_files(origin) if origin.is_dir() else [origin]
    key = (dist.metadata["Name"], dist.version, source_digest(origin, files))
    if key in _built and _built[key].exists():
        return _built[key]
    folder = cache_dir() / "-".join(key)
    found = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    if not found:
        found = [_build(origin, files, folder)]
    _built[key] = found[0]
    return found[0]


def source_files(root: Path) -> list[Path]:
    """The files of a source folder: git's list (tracked and untracked, not ignored) in a
    checkout, else a walk that skips hidden folders, environments and outputs."""
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        listed = None
    if listed is not None and listed.returncode == 0:
        names = [n for n in listed.stdout.decode().split("\0") if n]
        return sorted(root / n for n in names if (root / n).is_file())
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS and not d.endswith(".egg-info")
                   and not (Path(folder) / d / "pyvenv.cfg").exists()]
        found += [Path(folder) / n for n in names]
    return sorted(found)


def source_digest(root: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root) if path != root else path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _build(origin: Path, files: list[Path], folder: Path) -> Path:
    """Build the wheel of a local source into ``folder`` (atomically: a rename at the end)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=folder.parent) as tmp:
        source = Path(tmp) / "source"
        if origin.is_dir():
            for path in files:
                target = source / path.relative_to(origin)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        else:
            source = origin
        out = Path(tmp) / "wheel"
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check", "-w", str(out)]
        if origin.is_dir() and build_backend_installed(source):
            command.append("--no-build-isolation")
        command.append(str(source))
        log.info("building a wheel of %s to bundle with logged models (once per source state)", origin)
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        wheels = sorted(out.glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            last = (done.stderr.strip().splitlines() or ["no wheel produced"])[-1]
            raise TrackingError(f"cannot build a wheel of {origin} to bundle with the model: {last}")
        staged = Path(tmp) / "staged"
        staged.mkdir()
        shutil.move(str(wheels[0]), staged / wheels[0].name)
        try:
            os.rename(staged, folder)
        except OSError:  # another process built the same source first: keep its wheel
            if not any(folder.glob("*.whl")):
                raise
    return next(folder.glob("*.whl"))


def build_backend_installed(source: Path) -> bool:
    """Whether every ``[build-system] requires`` of the source is installed here."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        system = tomllib.loads((source / "pyproject.toml").read_text()).get("build-system", {})
    except (OSError, tomllib.TOMLDecodeError):
        system = {}
    for text in system.get("requires", ["setuptools", "wheel"]):
        try:
            requirement = Requirement(text)
            if not requirement.specifier.contains(version(requirement.name), prereleases=True):
                return False
        except (InvalidRequirement, PackageNotFoundError):
            return False
    return True
