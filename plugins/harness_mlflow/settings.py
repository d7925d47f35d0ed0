"""The ``tracking`` config section when ``tracking.backend`` is ``mlflow``.

Every option is checked before anything is loaded; a bad value or an unknown option is
a one-line error naming ``tracking.<option>``. Where the store is (``uri``,
``artifact_root``, ``experiment``) is resolved by :mod:`harness_mlflow.store`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from harness import ConfigError
from harness import validation as v

SECTION = "tracking"


@dataclass(frozen=True)
class Settings:
    backend: str = "mlflow"
    uri: str | None = None            # None: $MLFLOW_TRACKING_URI, else sqlite:///<project>/mlflow.db
    artifact_root: str | None = None  # None: mlartifacts/ beside a SQLite store; the server's otherwise
    experiment: str | None = None     # None: $MLFLOW_EXPERIMENT_NAME, else the config's name
    log_model: bool = True            # the trained model as a LoggedModel
    register_model: str | None = None  # also register it as a new version of this registered model
    bundle_wheels: bool = True        # ship wheels of locally installed distributions inside the model
    log_checkpoints: bool = True      # upload each checkpoint, so resume=<run id> works from the store
    resume_sweeps: bool = True        # re-running a sweep continues its unfinished parent

    @classmethod
    def from_tracking(cls, section: Mapping) -> Settings:
        accepted = [f.name for f in fields(cls)]
        unknown = sorted(set(section) - set(accepted))
        if unknown:
            raise ConfigError(f"{SECTION}: unknown option {', '.join(map(repr, unknown))}; accepted: {', '.join(accepted)}")
        merged = {**{f.name: f.default for f in fields(cls)}, **section}
        for name in ("uri", "artifact_root", "experiment", "register_model"):
            value = merged[name]
            if value is not None and (not isinstance(value, str) or not value.strip()):
                v.fail(f"{SECTION}.{name}", "a non-empty string or null", value)
        for name in ("log_model", "bundle_wheels", "log_checkpoints", "resume_sweeps"):
            v.boolean(f"{SECTION}.{name}", merged[name])
        return cls(**merged)
