"""Local artifact uploads that never leave a truncated file under its real name.

MLflow's local artifact repository (a SQLite store's ``mlartifacts/``, any ``file:``
artifact root) writes a single file to a temporary name and renames it, but copies a
folder (``log_artifacts``, which is how a model is logged) with plain ``shutil.copy2``:
a full disk leaves ``model/artifacts/weights.npz`` cut short in the store, looking
complete. :class:`AtomicLocalArtifactRepository` uploads a folder file by file through
that single-file path, so every file in the store is either complete or absent.

It is registered for the ``file`` scheme (and plain paths) in MLflow's artifact
repository registry when this plugin opens a store, in this process only, and only
where MLflow's own class is still the one registered (another plugin's is left alone).
"""

from __future__ import annotations

import os

from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

SCHEMES = ("", "file")


class AtomicLocalArtifactRepository(LocalArtifactRepository):
    """MLflow's local repository, with folders uploaded one file at a time, each staged
    under a temporary name and renamed once complete (MLflow's ``log_artifact``)."""

    def log_artifacts(self, local_dir, artifact_path=None):
        for folder, subfolders, files in os.walk(local_dir):
            relative = os.path.relpath(folder, local_dir)
            parts = [p for p in (artifact_path, None if relative == "." else relative) if p]
            target = "/".join(part.replace(os.sep, "/").strip("/") for part in parts) or None
            if not files and not subfolders:
                self._get_or_create_artifact_dir(target)  # an empty folder is copied too, as MLflow does
            for name in sorted(files):
                self.log_artifact(os.path.join(folder, name), target)


def install_atomic_local_repository() -> None:
    """Make MLflow use :class:`AtomicLocalArtifactRepository` for local artifact roots."""
    from mlflow.store.artifact.artifact_repository_registry import _artifact_repository_registry as registry

    for scheme in SCHEMES:
        if registry._registry.get(scheme) is LocalArtifactRepository:
            registry.register(scheme, AtomicLocalArtifactRepository)


def damaged_files(root: str | os.PathLike[str]) -> list[str]:
    """Files under a local artifact root that are cut short or left half-uploaded: archives
    (``.npz``, ``.whl``, ``.zip``) that fail their CRC check, JSON or YAML (``MLmodel``)
    that does not parse, PNG images without their end chunk, and MLflow's staging files.
    What ``benchmarks/faults.py`` counts as ``truncated_artifacts`` (0 expected)."""
    import json
    import zipfile

    import yaml

    damaged = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            try:
                if name.startswith(".artifact.uploading."):
                    raise ValueError("staging file left behind")
                if name.endswith((".npz", ".whl", ".zip")):
                    with zipfile.ZipFile(path) as archive:
                        if archive.testzip() is not None:
                            raise ValueError("bad CRC")
                elif name.endswith(".json"):
                    with open(path, encoding="utf-8") as handle:
                        json.load(handle)
                elif name.endswith((".yaml", ".yml")) or name == "MLmodel":
                    with open(path, encoding="utf-8") as handle:
                        yaml.safe_load(handle)
                elif name.endswith(".png"):
                    with open(path, "rb") as handle:
                        handle.seek(max(0, os.path.getsize(path) - 12))
                        if not handle.read().endswith(b"IEND\xaeB`\x82"):
                            raise ValueError("no PNG end chunk")
            except (OSError, ValueError, zipfile.BadZipFile, yaml.YAMLError):
                damaged.append(path)
    return sorted(damaged)
