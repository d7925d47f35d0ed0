"""A run's training, validation and test data as MLflow dataset inputs.

Each split becomes an ``mlflow.data.from_numpy`` dataset logged with its context
(``training`` / ``validation`` / ``test``), so the UI's Datasets column and the run page
show what a run learned from and was scored on. Name, digest and source come from the
dataset plugin's provenance (``Splits.provenance``: the pinned SHA-256 of the files and
the split parameters, and where the files came from). A dataset that gives none is
digested here from its arrays (MLflow's automatic digest hashes only the first 10 000
elements, so two subsets of one file could not be told apart) and has the code that
made it as its source, as MLflow does by default; so does a source no MLflow source type
reads (``synthetic:blobs``: examples a seeded generator makes), named in a tag.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mlflow.data.numpy_dataset import NumpyDataset

CONTEXTS = {"train": "training", "val": "validation", "test": "test"}
DIGEST_LENGTH = 36  # the widest digest MLflow's SQL stores keep


@dataclass(frozen=True)
class SplitInput:
    """One logged split: what a metric names when it says which data it was measured on."""

    split: str
    name: str
    digest: str
    dataset: NumpyDataset


def array_digest(x: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of a split's features and labels (dtype and shape included), shortened."""
    digest = hashlib.sha256()
    for array in (x, y):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.data.cast("B"))  # array.data: the array's own memoryview
    return digest.hexdigest()[:16]


def split_inputs(data, dataset_name: str, context_tags: dict[str, str] | None = None) -> list[SplitInput]:
    """The three splits of ``data`` (a ``Splits``) as MLflow datasets."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.numpy_dataset import from_numpy  # mlflow.data.from_numpy, defined here

    provenance = getattr(data, "provenance", None) or {}
    made = []
    for split in CONTEXTS:
        x, y = getattr(data, f"{split}_x"), getattr(data, f"{split}_y")
        known = provenance.get(split)
        if known is not None:
            name, digest, source = str(known.name), str(known.digest)[:DIGEST_LENGTH], dataset_source(str(known.source), context_tags)
        else:
            name, digest, source = f"{dataset_name}/{split}", array_digest(x, y), CodeDatasetSource(tags=dict(context_tags or {}))
        dataset = from_numpy(x, targets=y, name=name, source=source, digest=digest)
        made.append(SplitInput(split, name, digest, dataset))
    return made


def dataset_source(source: str, context_tags: dict[str, str] | None = None):
    """MLflow's source for ``source`` (a folder, a URL...); a source none of MLflow's types
    reads is data the run's code generated: a code source, with ``source`` as a tag."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.exceptions import MlflowException

    try:
        with warnings.catch_warnings():  # MLflow registers its local-file source twice and says so
            warnings.simplefilter("ignore", UserWarning)
            return resolve_dataset_source(source)
    except MlflowException:
        return CodeDatasetSource(tags={**(context_tags or {}), "harness.data.source": source})


def log_split_inputs(client, run_id: str, inputs: list[SplitInput]) -> None:
    """Attach the splits to the run, each tagged with its context."""
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    from harness_mlflow.store import retrying

    entries = [
        DatasetInput(item.dataset._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, CONTEXTS[item.split])])
        for item in inputs
    ]
    retrying(client.log_inputs, run_id, datasets=entries)
