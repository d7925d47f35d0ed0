"""Checkpoints without pickle: arrays in ``.npz`` (``allow_pickle=False``), the rest in JSON.

A checkpoint holds everything the next epoch depends on — parameters, layer buffers
(batch-norm running statistics), optimizer state, the shuffling generator, every
layer's own generator (dropout), the epoch and step counters, the history and the
best-so-far snapshot — so a resumed run computes bit for bit what an uninterrupted one
would. The arrays alternate between two files (``arrays-a.npz`` / ``arrays-b.npz``) and
the manifest, written last, names the current one with its SHA-256 and keeps the
previous one's description (``previous``); each file is written to a temporary name and
renamed. A crash at any moment leaves the directory holding either the new checkpoint or
the previous one, complete, never a mix. A file damaged afterwards (a full disk, a bad
copy, a flipped bit) fails its digest when the checkpoint is read: the previous
checkpoint, in the other file, is used instead when it is intact, with a warning; else
the error is one line.
"""

from __future__ import annotations

import json
import logging
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.contracts import RandomLayer
from harness.errors import DataError
from harness.files import atomic_write, describe_os_error, sha256_file
from harness.training.arrays import model_arrays, model_components

log = logging.getLogger("harness.train")

MANIFEST = "checkpoint.json"
SLOTS = ("arrays-a.npz", "arrays-b.npz")
FORMAT = 2


@dataclass
class TrainingState:
    """What the loop needs to continue, apart from the model and optimizer."""

    epoch: int = 0                      # the epoch in progress (or next), from 0
    step: int = 0                       # optimizer steps taken in the whole run
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_accuracy: float = -1.0
    best_arrays: dict[str, np.ndarray] | None = None  # parameters and buffers of the best epoch
    train_seconds: float = 0.0          # finished epochs only
    # Inside an epoch (a signal stopped the run between two steps):
    batches_done: int = 0
    epoch_rng_state: dict | None = None  # the shuffling generator before this epoch's permutation
    loss_sum: float = 0.0
    correct: int = 0
    epoch_seconds: float = 0.0

    def position(self) -> dict:
        return {k: getattr(self, k) for k in ("batches_done", "epoch_rng_state", "loss_sum", "correct", "epoch_seconds")}


def save(directory: Path, *, model, optimizer, shuffle_rng: np.random.Generator, data_rng: np.random.Generator,
         state: TrainingState, config_yaml: str, ids: dict[str, str]) -> Path:
    """Write the checkpoint of the run after ``state.epoch`` finished epochs."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = dict(model_arrays(model))
    rngs = {}
    for name, layer in model_components(model):
        if isinstance(layer, RandomLayer):
            rngs[name] = layer.rng.bit_generator.state
    opt_state = optimizer.state_dict()
    for pname, slots in opt_state["slots"].items():
        for key, value in slots.items():
            arrays[f"optimizer/{pname}/{key}"] = value
    for key, value in (state.best_arrays or {}).items():
        arrays[f"best/{key}"] = value
    manifest = {
        "format": FORMAT,
        "epoch": state.epoch,
        "step": state.step,
        "history": state.history,
        "best_epoch": state.best_epoch,
        "best_val_accuracy": state.best_val_accuracy,
        "train_seconds": state.train_seconds,
        "optimizer": {"steps": opt_state["steps"]},
        "position": state.position(),
        "shuffle_rng": shuffle_rng.bit_generator.state,
        "data_rng": data_rng.bit_generator.state,
        "layer_rngs": rngs,
        "ids": ids,
        "config_yaml": config_yaml,
    }
    current = _current_manifest(directory)
    slot = SLOTS[1] if current.get("arrays") == SLOTS[0] else SLOTS[0]
    manifest["arrays"] = slot
    atomic_write(directory / slot, lambda handle: np.savez(handle, **arrays))  # type: ignore[arg-type]
    manifest["arrays_sha256"] = sha256_file(directory / slot)
    if current.get("arrays") in SLOTS and current.get("arrays_sha256"):
        # The checkpoint this one replaces: its arrays stay in the other file until the next save.
        manifest["previous"] = {k: v for k, v in current.items() if k != "previous"}
    atomic_write(directory / MANIFEST, json.dumps(manifest, indent=1))
    return directory


def _current_manifest(directory: Path) -> dict:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def files(directory: Path) -> list[Path]:
    """The files of the current checkpoint: its manifest and the arrays it names."""
    return [Path(directory) / MANIFEST, Path(directory) / read_manifest(directory)["arrays"]]


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: no checkpoint here (expected {MANIFEST} and the arrays it names)") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable checkpoint manifest ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise DataError(f"{path}: checkpoint format {manifest.get('format')!r} is not supported (expected {FORMAT})")
    return manifest


def restore(directory: Path, *, model, optimizer, shuffle_rng: np.random.Generator,
            data_rng: np.random.Generator) -> TrainingState:
    """Load a checkpoint into a freshly built model, optimizer and generator.

    The arrays are checked against the manifest's digest first; if they fail it and the
    previous checkpoint (the other file) is intact and older, that one is loaded instead.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    try:
        arrays = _load_arrays(directory, manifest)
    except DataError as problem:
        manifest, arrays = _fall_back(directory, manifest, problem)
    for key, target in model_arrays(model).items():
        _copy_into(target, arrays, key, directory / manifest["arrays"])
    for name, layer in model_components(model):
        if name in manifest["layer_rngs"]:
            layer.rng.bit_generator.state = manifest["layer_rngs"][name]
    slots: dict[str, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        if key.startswith("optimizer/"):
            pname, slot = key[len("optimizer/"):].rsplit("/", 1)
            slots.setdefault(pname, {})[slot] = value
    optimizer.load_state_dict({"steps": manifest["optimizer"]["steps"], "slots": slots})
    shuffle_rng.bit_generator.state = manifest["shuffle_rng"]
    data_rng.bit_generator.state = manifest["data_rng"]
    best = {key[len("best/"):]: value for key, value in arrays.items() if key.startswith("best/")} or None
    return TrainingState(
        epoch=manifest["epoch"], step=manifest["step"], history=manifest["history"],
        best_epoch=manifest["best_epoch"], best_val_accuracy=manifest["best_val_accuracy"],
        best_arrays=best, train_seconds=manifest["train_seconds"], **manifest["position"],
    )


def _load_arrays(directory: Path, manifest: dict) -> dict[str, np.ndarray]:
    """The arrays file ``manifest`` names, verified against its digest (when it has one)."""
    source = directory / str(manifest.get("arrays"))
    expected = manifest.get("arrays_sha256")
    if expected:
        try:
            actual = sha256_file(source)
        except FileNotFoundError:
            raise DataError(f"{source}: checkpoint arrays missing") from None
        except OSError as exc:
            raise DataError(f"{source}: unreadable checkpoint arrays ({describe_os_error(exc)})") from None
        if actual != expected:
            raise DataError(f"{source}: corrupt checkpoint arrays (SHA-256 {actual[:12]}…, the manifest says {expected[:12]}…)")
    try:
        with np.load(source, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise DataError(f"{source}: checkpoint arrays missing") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{source}: unreadable checkpoint arrays ({' '.join(str(exc).split()) or type(exc).__name__})") from None


def _fall_back(directory: Path, manifest: dict, problem: DataError) -> tuple[dict, dict[str, np.ndarray]]:
    """The previous checkpoint, when the current one's arrays are damaged and it is intact."""
    previous = manifest.get("previous")
    if (not isinstance(previous, dict) or previous.get("arrays") not in SLOTS
            or previous.get("arrays") == manifest.get("arrays") or previous.get("step", 0) > manifest.get("step", 0)):
        raise DataError(f"{problem}; no earlier checkpoint to fall back to") from None
    try:
        arrays = _load_arrays(directory, previous)
    except DataError as second:
        raise DataError(f"{problem}; the earlier checkpoint is unusable too: {second}") from None
    log.warning("%s; resuming from the earlier checkpoint in %s instead (epoch %d, step %d)",
                problem, previous["arrays"], previous["epoch"], previous["step"])
    return previous, arrays


def _copy_into(target: np.ndarray, arrays: dict, key: str, source: Path) -> None:
    if key not in arrays:
        raise DataError(f"{source}: missing {key!r}; the checkpoint is from a different model")
    if arrays[key].shape != target.shape:
        raise DataError(f"{source}: {key!r} has shape {arrays[key].shape}, the model needs {target.shape}")
    np.copyto(target, arrays[key])
