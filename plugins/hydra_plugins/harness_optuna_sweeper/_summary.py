"""What the sweep's parent run gets: ``<sweep dir>/sweep_summary/``.

``tags.json`` (flat str -> str: the study, the best trial's number, value, params and
job number: its child run has the tag ``harness.sweep_job``), ``optuna_trials.csv`` (one row per trial) and ``optuna_study.png``. The core
attaches the folder's files and tags to the parent run (a tracker does it).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from harness import atomic_write
from hydra_plugins.harness_optuna_sweeper._search_space import format_value

TAGS_FILE = "tags.json"


def study_tags(study, metric: str, storage: str) -> dict[str, str]:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    tags = {
        "optuna.study_name": study.study_name, "optuna.storage": storage,
        "optuna.direction": study.direction.name.lower(), "optuna.metric": metric,
        "optuna.trials": str(len(trials)), "optuna.complete": str(len(complete)),
        "optuna.failed": str(sum(1 for t in trials if t.state == TrialState.FAIL)),
    }
    if complete:
        best = best_trial(study, complete)
        tags.update({"optuna.best_trial": str(best.number), "optuna.best_value": repr(best.value)})
        tags.update({f"optuna.best_params.{k}": format_value(v) for k, v in best.params.items()})
        if best.user_attrs.get("harness.job"):  # the child run tagged harness.sweep_job=<this>
            tags["optuna.best_job"] = str(best.user_attrs["harness.job"])
    return tags


def best_trial(study, complete: list):
    """The best trial; among equals the first that ran (a SKIPPED one repeated a finished
    configuration, whose run is the one to point at)."""
    sign = -1 if study.direction.name == "MAXIMIZE" else 1
    return min(complete, key=lambda t: (sign * t.value, t.user_attrs.get("harness.status") == "SKIPPED", t.number))


def trials_csv(study, metric: str) -> str:
    trials = study.get_trials(deepcopy=False)
    names = sorted({k for t in trials for k in t.params})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["trial", "state", metric, *names, "test_accuracy", "job", "error"])
    rerun = {t.user_attrs["harness.rerun_of"]: t.number for t in trials if "harness.rerun_of" in t.user_attrs}
    for t in trials:
        error = t.user_attrs.get("harness.error", "")
        if t.number in rerun:
            error = f"its sweep was killed; run again as trial {rerun[t.number]}"
        writer.writerow([t.number, t.state.name, "" if t.value is None else repr(t.value),
                         *(format_value(t.params[n]) if n in t.params else "" for n in names),
                         t.user_attrs.get("harness.test_accuracy", ""), t.user_attrs.get("harness.job", ""), error])
    return out.getvalue()


def write_summary(study, folder: Path, metric: str, storage: str) -> list[Path]:
    from hydra_plugins.harness_optuna_sweeper._plot import draw_study

    folder.mkdir(parents=True, exist_ok=True)
    made = [atomic_write(folder / "optuna_trials.csv", trials_csv(study, metric).encode())]
    made.append(draw_study(study, folder / "optuna_study.png", metric))
    tags = study_tags(study, metric, storage)
    made.append(atomic_write(folder / TAGS_FILE, json.dumps(tags, indent=1, sort_keys=True).encode()))
    return made
