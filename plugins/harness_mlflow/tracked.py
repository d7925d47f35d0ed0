"""The MLflow side of one harness run: every call goes through :func:`retrying`."""

from __future__ import annotations

import time
from pathlib import Path

from harness_mlflow.store import Store, retrying

MAX_PARAMS_PER_CALL = 100
MAX_METRICS_PER_CALL = 1000
MAX_PARAM_LENGTH = 6000


class TrackedRun:
    def __init__(self, client, store: Store, run_id: str, experiment_id: str):
        self.client, self.store, self.run_id, self.experiment_id = client, store, run_id, experiment_id
        self.model = None    # the model being trained, logged when the run finishes
        self.example = None  # a few test inputs: the logged model's input example

    def log_metrics(self, metrics: dict[str, float], step: int, dataset=None, model_id: str | None = None) -> None:
        """One step's metrics. With ``model_id`` they are also the model's metrics, and
        ``dataset`` (a :class:`harness_mlflow.datasets.SplitInput`) names the data they
        were measured on (MLflow keeps that link on model metrics)."""
        from mlflow.entities import Metric

        if not metrics:
            return
        now = int(time.time() * 1000)
        linked = {"model_id": model_id} if model_id else {}
        if model_id and dataset is not None:
            linked.update(dataset_name=dataset.name, dataset_digest=dataset.digest)
        batch = [Metric(k, float(v), now, step, **linked) for k, v in metrics.items()]
        retrying(self.client.log_batch, self.run_id, metrics=batch)

    def log_records(self, records: list[tuple[int, dict[str, float]]]) -> None:
        """Many ``(step, {name: value})`` at once, in as few calls as the store allows."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, int(step)) for step, values in records for k, v in values.items()]
        for start in range(0, len(batch), MAX_METRICS_PER_CALL):
            retrying(self.client.log_batch, self.run_id, metrics=batch[start:start + MAX_METRICS_PER_CALL])

    def log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in sorted(params.items())]
        for start in range(0, len(items), MAX_PARAMS_PER_CALL):
            retrying(self.client.log_batch, self.run_id, params=items[start:start + MAX_PARAMS_PER_CALL])

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        retrying(self.client.log_batch, self.run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])

    def clear_tag(self, key: str) -> None:
        """Remove ``key`` if the run has it (a resumed run drops the reason it stopped)."""
        if key in retrying(self.client.get_run, self.run_id).data.tags:
            retrying(self.client.delete_tag, self.run_id, key)

    def log_text(self, text: str, name: str) -> None:
        retrying(self.client.log_text, self.run_id, text, name)

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        retrying(self.client.log_artifact, self.run_id, str(path), folder)

    def log_artifacts(self, directory: Path, folder: str | None = None) -> None:
        retrying(self.client.log_artifacts, self.run_id, str(directory), folder)

    def terminate(self, status: str) -> None:
        retrying(self.client.set_terminated, self.run_id, status)
