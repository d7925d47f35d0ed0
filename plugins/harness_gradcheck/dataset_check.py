"""The dataset conformance check: the splits a run trains on, as the contract promises them.

A run builds the model from the dataset's declared ``input_dim`` and ``num_classes``
before loading anything, trains on ``load()``'s splits, and ``harness data fetch``
prepares the files ahead. The check builds the dataset with its factory's
``check_options`` and demands:

* **fetch**: ``fetch()`` returns ``{name: path}`` of existing files (``{}`` for generated
  examples), and a second call returns the same paths without fetching again: every
  file keeps its inode, size and modification time;
* **splits**: train, validation and test each hold at least one example; features are
  ``(n, input_dim)``, labels ``(n,)``; an ``augment`` function keeps a batch's shape and dtype;
* **dtypes**: features are finite floats, labels integers;
* **labels**: every label is in ``[0, num_classes)``;
* **determinism**: a second dataset built from the same options loads equal arrays
  (what a seed promises: a resumed or repeated run sees the same examples).

The check never downloads: ``check_options`` must keep a dataset to its cache (the
image datasets' ``offline=True``). When ``fetch()`` cannot obtain the files that way
it raises :class:`harness.DataError`, and the check is skipped with that reason
(``harness data fetch NAME`` fills the cache); synthetic datasets always run.
"""

from __future__ import annotations

import logging
import math
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from harness import CheckResult, DataError, Splits, Subject

SPLITS = ("train", "val", "test")


class DatasetContract:
    """Checks every registered dataset: fetch, shapes, dtypes, labels, determinism."""

    name = "dataset_contract"

    def applies_to(self, subject: Subject) -> bool:
        return subject.kind == "dataset"

    def check(self, subject: Subject) -> list[CheckResult]:
        with _quiet():  # what the dataset logs while fetching is in the results already
            return self._check(subject)

    def _check(self, subject: Subject) -> list[CheckResult]:
        dataset = subject.build()
        declared = _declared_problem(dataset)
        if declared:
            return [self._verdict(subject, "declared", declared, "")]
        try:
            first = dataset.fetch()
        except DataError as exc:
            reason = f"not available offline: {exc}; `harness data fetch {subject.name}` caches its files"
            return [CheckResult(subject.label, self.name, "fetch", math.nan, 1.0, reason, skipped=True, measure="violations")]
        results = [self._fetch(subject, dataset, first)]
        splits = dataset.load()
        if not isinstance(splits, Splits):
            return results + [self._verdict(subject, "splits", f"load() returned {type(splits).__name__}, not harness.Splits", "")]
        shapes = _shape_problem(splits, dataset.input_dim)
        results.append(self._verdict(subject, "splits", shapes, "" if shapes else _sizes(splits)))
        if shapes:
            return results
        results.append(self._verdict(subject, "dtypes", _dtype_problem(splits), _dtypes(splits)))
        results.append(self._verdict(subject, "labels", _label_problem(splits, dataset.num_classes),
                                     f"every label in [0, {dataset.num_classes})"))
        again = subject.build().load()
        results.append(self._verdict(subject, "determinism", _difference(splits, again),
                                     "a second dataset from the same options loads equal arrays"))
        return results

    def _fetch(self, subject: Subject, dataset, first) -> CheckResult:
        problem = _paths_problem(first)
        if problem:
            return self._verdict(subject, "fetch", f"fetch() {problem}", "")
        before = {name: _stamp(path) for name, path in first.items()}
        second = dataset.fetch()
        problem = _paths_problem(second)
        if problem:
            return self._verdict(subject, "fetch", f"a second fetch() {problem}", "")
        if {k: Path(p) for k, p in second.items()} != {k: Path(p) for k, p in first.items()}:
            return self._verdict(subject, "fetch", "a second fetch() returned other paths than the first", "")
        touched = [name for name, path in second.items() if _stamp(path) != before[name]]
        if touched:
            return self._verdict(subject, "fetch", f"a second fetch() wrote {touched[0]!r} again (inode, size or "
                                 f"modification time changed): it must reuse verified files", "")
        detail = f"a second fetch() returned the same {len(first)} files untouched" if first else "nothing to fetch (generated)"
        return self._verdict(subject, "fetch", "", detail)

    def _verdict(self, subject: Subject, aspect: str, problem: str, detail: str) -> CheckResult:
        """A yes/no aspect: error 0 when it holds, infinite (with the reason) when it does not."""
        return CheckResult(subject.label, self.name, aspect, math.inf if problem else 0.0, 1.0,
                           problem or detail, measure="violations")


@contextmanager
def _quiet():
    """Logging below ERROR switched off for the duration (the previous setting restored)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def _declared_problem(dataset) -> str:
    for attribute, low in (("input_dim", 1), ("num_classes", 2)):
        value = getattr(dataset, attribute, None)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            return f"{attribute} must be an integer >= {low} known before load(), got {value!r}"
    return ""


def _paths_problem(paths) -> str:
    if not isinstance(paths, dict):
        return f"returned {type(paths).__name__}, not a dict of paths"
    for name, path in paths.items():
        if not isinstance(path, (str, os.PathLike)) or not Path(path).is_file():
            return f"returned {name!r}: {path!r}, which is not an existing file"
    return ""


def _stamp(path) -> tuple[int, int, int]:
    info = os.stat(path)
    return info.st_ino, info.st_size, info.st_mtime_ns


def _arrays(splits: Splits, split: str) -> tuple:
    return getattr(splits, f"{split}_x"), getattr(splits, f"{split}_y")


def _shape_problem(splits: Splits, input_dim: int) -> str:
    for split in SPLITS:
        x, y = _arrays(splits, split)
        if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
            return f"{split}: features and labels must be numpy arrays, got {type(x).__name__} and {type(y).__name__}"
        if x.ndim != 2 or x.shape[1] != input_dim:
            return f"{split} features are {x.shape}; expected (n, {input_dim}) as input_dim declares"
        if y.shape != (len(x),):
            return f"{split} labels are {y.shape} for {len(x)} examples; expected ({len(x)},)"
        if len(y) == 0:
            return f"the {split} split is empty; a run needs examples in train, val and test"
    if splits.augment is not None:
        batch = splits.train_x[:8].copy()
        out = splits.augment(batch, np.random.default_rng(0))
        if not isinstance(out, np.ndarray) or out.shape != batch.shape or out.dtype != batch.dtype:
            got = f"{out.shape} {out.dtype}" if isinstance(out, np.ndarray) else type(out).__name__
            return f"augment turns a {batch.shape} {batch.dtype} batch into {got}; it must keep shape and dtype"
    return ""


def _dtype_problem(splits: Splits) -> str:
    for split in SPLITS:
        x, y = _arrays(splits, split)
        if not np.issubdtype(x.dtype, np.floating):
            return f"{split} features are {x.dtype}; expected floats"
        if not np.issubdtype(y.dtype, np.integer):
            return f"{split} labels are {y.dtype}; expected integer class indices"
        if not np.isfinite(x).all():
            return f"{split} features hold {int(np.size(x) - np.isfinite(x).sum())} non-finite values"
    return ""


def _label_problem(splits: Splits, num_classes: int) -> str:
    for split in SPLITS:
        _, y = _arrays(splits, split)
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            return f"{split} labels span [{y.min()}, {y.max()}]; num_classes = {num_classes} allows [0, {num_classes - 1}]"
    return ""


def _difference(first: Splits, second) -> str:
    if not isinstance(second, Splits):
        return f"a second load() returned {type(second).__name__}, not harness.Splits"
    for split in SPLITS:
        for part, a, b in zip(("features", "labels"), _arrays(first, split), _arrays(second, split)):
            if a.dtype != b.dtype or not np.array_equal(a, b):
                return f"two datasets from the same options load different {split} {part}: the examples must follow from the options (seed)"
    return ""


def _sizes(splits: Splits) -> str:
    return "train/val/test " + "/".join(str(n) for n in splits.sizes().values()) + f" examples of {splits.train_x.shape[1]} features"


def _dtypes(splits: Splits) -> str:
    return f"features {splits.train_x.dtype}, labels {splits.train_y.dtype}"
