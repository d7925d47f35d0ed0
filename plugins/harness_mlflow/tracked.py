"""The MLflow side of one harness run: every call goes through :func:`retrying`.

Metrics go to the store in as few ``log_batch`` calls as it allows: a SQLite write
costs tens of milliseconds whatever it holds, and a sweep of tiny runs paid more for its
round trips than for its training. An epoch's metrics are buffered and go out with the
next sending: another plugin's measurements (``run.log_metrics``, sent when that plugin
chooses), the checkpoint (:meth:`TrackedRun.flush` before it is uploaded, so a run
resumed from it has lost no metric), the run's end, or the first epoch end
``SEND_EVERY_SECONDS`` after the last sending (runs without checkpoints still show their
curves while they train).
"""

from __future__ import annotations

import time
from pathlib import Path

from harness_mlflow.store import Store, retrying

MAX_PARAMS_PER_CALL = 100
MAX_METRICS_PER_CALL = 1000
MAX_TAGS_PER_CALL = 100
MAX_PARAM_LENGTH = 6000
SEND_EVERY_SECONDS = 5.0


class TrackedRun:
    def __init__(self, client, store: Store, run_id: str, experiment_id: str):
        self.client, self.store, self.run_id, self.experiment_id = client, store, run_id, experiment_id
        self.pending: list = []  # mlflow.entities.Metric not sent yet
        self.sent_at = time.monotonic()
        # The metrics this process logged, by step: a logged model is linked to those of the
        # epoch whose weights it has (without reading them back from the store).
        self.by_step: dict[int, list] = {}

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """One epoch's metrics (``step``: epochs finished), buffered."""
        from mlflow.entities import Metric

        now = _now_ms()
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        self.by_step.setdefault(step, []).extend(batch)
        self.pending.extend(batch)
        if time.monotonic() - self.sent_at >= SEND_EVERY_SECONDS:
            self.flush()

    def log_records(self, records: list[tuple[int, dict[str, float]]]) -> None:
        """Many ``(step, {name: value})`` at once (a plugin's measurements, which it sends
        when it chooses to): sent now, with whatever is buffered."""
        from mlflow.entities import Metric

        now = _now_ms()
        for step, values in records:
            batch = [Metric(k, float(v), now, int(step)) for k, v in values.items()]
            self.by_step.setdefault(int(step), []).extend(batch)
            self.pending.extend(batch)
        self.flush()

    def flush(self, metrics: list | None = None, tags: dict[str, str] | None = None) -> None:
        """Send what is buffered, with ``metrics`` (``Metric`` entities) and ``tags``, in as
        few ``log_batch`` calls as MLflow's limits allow (1000 metrics, 100 tags each)."""
        from mlflow.entities import RunTag

        batch, self.pending = self.pending + list(metrics or []), []
        tag_list = [RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()]
        self.sent_at = time.monotonic()
        while batch or tag_list:
            some_tags = tag_list[:MAX_TAGS_PER_CALL]
            part = batch[:MAX_METRICS_PER_CALL - len(some_tags)]
            try:
                retrying(self.client.log_batch, self.run_id, metrics=part, tags=some_tags)
            except Exception:
                self.pending = batch + self.pending  # kept for the next attempt
                raise
            batch, tag_list = batch[len(part):], tag_list[len(some_tags):]

    def metrics_at(self, step: int) -> list:
        """The metrics of ``step``: those this process logged, else (a resumed
        run whose epoch was logged by an earlier process) read back from the store."""
        if step in self.by_step:
            return list(self.by_step[step])
        found = []
        for key in retrying(self.client.get_run, self.run_id).data.metrics:
            found += [m for m in retrying(self.client.get_metric_history, self.run_id, key)
                      if m.step == step and m.model_id is None]
        return found

    def linked(self, step: int, model_id: str) -> list:
        """The metrics of ``step`` again, as the model ``model_id``'s metrics (what
        ``Model.log`` does by reading every metric's history back). Sent already, a copy
        with the same timestamp adds no point to the run's history; still buffered, the
        linked copy replaces it."""
        from mlflow.entities import Metric

        found = self.metrics_at(step)
        linking = {id(m) for m in found}
        self.pending = [m for m in self.pending if id(m) not in linking]
        return [Metric(m.key, m.value, m.timestamp, m.step, model_id=model_id) for m in found]

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


def _now_ms() -> int:
    return int(time.time() * 1000)
