"""The ask/tell loop: ask for trials, launch them as jobs, tell Optuna what each returned.

Only this (the launching) process talks to the study's storage; jobs just train and
return their summary (``harness-train``'s task function returns a dict with ``status``
and the run's summary metrics). A job that failed, diverged or returned no finite value
for the metric is told to Optuna as a FAILED trial: the study goes on, and TPE learns
to avoid that region. Trials left RUNNING by a sweep that died (same host, process
gone) are marked failed and their parameters asked again first, so a re-run of the
same command resumes the study until it holds ``n_trials`` trials.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import socket
import warnings
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from harness import ConfigError
from hydra_plugins.harness_optuna_sweeper import _search_space as search_space

log = logging.getLogger("harness.optuna")
SUMMARY_DIR = "sweep_summary"
STORE_FILE = "optuna.db"


def default_study_name(name: str, space: search_space.SearchSpace) -> str:
    """``<name>-<hash>``: the same search space and fixed overrides give the same study."""
    text = json.dumps([name, sorted(space.fixed), sorted((k, repr(v)) for k, v in space.distributions.items())])
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def resolve_storage(storage: str | None) -> str | None:
    """``None`` (Optuna's in-memory storage) for "memory"; the launch directory's optuna.db by default."""
    if storage == "memory":
        return None
    if storage is None:
        return f"sqlite:///{(Path.cwd() / STORE_FILE).resolve()}"
    if "://" not in str(storage):
        raise ConfigError(f"hydra.sweeper.storage must be an Optuna storage URL (sqlite:///abs/path.db, "
                          f"postgresql+psycopg://...), 'memory' or null, got {storage!r}")
    return str(storage)


def redact(url: str | None) -> str:
    """A storage URL without its password, for logs and tags."""
    if url is None:
        return "memory"
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("://", 1)[0] + "://…"


def counted(study) -> int:
    """Trials that count towards ``n_trials``: finished ones, not those a dead sweep left
    (another trial runs their parameters again: its user attr ``harness.rerun_of``)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    replaced = {t.user_attrs["harness.rerun_of"] for t in trials if "harness.rerun_of" in t.user_attrs}
    return sum(1 for t in trials
               if t.state in (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED) and t.number not in replaced)


def fail_stale_trials(study) -> int:
    """RUNNING trials whose driver (this host, a pid that is gone) died with its sweep:
    told FAILED, and their parameters queued to be asked again first (as a grid sweep's
    unfinished jobs run again), so the sweep's record ends complete under its parent."""
    from optuna.trial import TrialState

    stale = 0
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = frozen.user_attrs
        if attrs.get("harness.host") != socket.gethostname() or _alive(attrs.get("harness.pid")):
            continue
        study.tell(frozen.number, state=TrialState.FAIL)
        study.enqueue_trial(frozen.params, user_attrs={"harness.rerun_of": frozen.number})
        stale += 1
    return stale


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def job_record(result) -> dict[str, Any]:
    """The job's own record (``harness_job.json`` in its folder: status, error, summary),
    as every launcher's jobs write it on the sweep's shared folder; {} if unreadable."""
    from harness.jobs import RESULT_FILE

    try:
        folder = Path(str(result.hydra_cfg.hydra.runtime.output_dir))
        return json.loads((folder / RESULT_FILE).read_text())
    except Exception:
        return {}


def outcome(result, metric: str) -> tuple[float | None, dict[str, Any]]:
    """``(objective or None, what the job reported)`` from a Hydra ``JobReturn``: the
    task function returns the run's summary (a dict of floats), ``None`` if it failed."""
    record = job_record(result)
    try:
        summary = result.return_value  # re-raises what the job raised
    except Exception as exc:
        return None, {**record, "status": "FAILED", "error": f"{type(exc).__name__}: {exc}"}
    if not isinstance(summary, dict):
        return None, {"status": "FAILED", **record,
                      "error": record.get("error") or f"the job returned {summary!r}, not a run summary"}
    reported = {**record, **summary, "status": record.get("status", "FINISHED")}
    diverged = summary.get("diverged_step", record.get("diverged_step"))
    if diverged is not None:  # training.on_divergence=record: FINISHED, but no result
        return None, {**reported, "error": f"training diverged at step {int(diverged)}"}
    if reported["status"] not in ("FINISHED", "SKIPPED"):
        return None, reported
    value = summary.get(metric)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None, {**reported, "error": f"no finite {metric} in the job's summary"}
    return float(value), reported


def run_study(sweeper, arguments: list[str]) -> list:
    import optuna
    from optuna.trial import TrialState

    from harness.jobs import stop_requested

    config = sweeper.config
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, sweep_dir / "multirun.yaml")
    space = search_space.parse(sweeper.params, arguments, sweeper.hydra_context.config_loader)
    study_name = sweeper.study_name or default_study_name(str(config.name), space)
    storage = resolve_storage(sweeper.storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name, storage=storage, direction=sweeper.direction,
                                load_if_exists=True)
    if study.direction.name.lower() != sweeper.direction:
        raise ConfigError(f"hydra.sweeper.direction: study {study_name!r} already exists and is to "
                          f"{study.direction.name.lower()}, not {sweeper.direction}")
    # Seeded by the trials already there: a resumed study must not propose its first trials again.
    seed = None if sweeper.seed is None else sweeper.seed + len(study.trials)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=sweeper.n_startup_trials,
                                                   multivariate=True)
    stale = fail_stale_trials(study)
    done = counted(study)
    log.info("Optuna study %r (%s, storage %s): %d of %d trials done%s", study_name, sweeper.direction,
             redact(storage), done, sweeper.n_trials, f", {stale} left by a dead sweep will run again" if stale else "")
    if done >= sweeper.n_trials:
        log.warning("study %r already holds its %d trials: nothing to run (raise hydra.sweeper.n_trials to continue it, "
                    "or name a new study with hydra.sweeper.study_name=...)", study_name, sweeper.n_trials)
    returns, job_idx = [], len(study.trials)
    identity = {"harness.host": socket.gethostname(), "harness.pid": str(os.getpid())}
    while (remaining := sweeper.n_trials - counted(study)) > 0:
        if stop_requested(sweep_dir):  # Ctrl-C: the running trials stopped; ask for no more
            break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            batch = [study.ask(space.distributions) for _ in range(min(sweeper.n_jobs, remaining))]
        for trial in batch:
            for attr, text in identity.items():
                trial.set_user_attr(attr, text)
        results = sweeper.launcher.launch([space.overrides(t.params) for t in batch], initial_job_idx=job_idx)
        job_idx += len(batch)
        for trial, result in zip(batch, results):
            value, reported = outcome(result, sweeper.metric)
            trial.set_user_attr("harness.status", str(reported.get("status", "FAILED")))
            trial.set_user_attr("harness.job", str(result.hydra_cfg.hydra.job.num) if result.hydra_cfg else "")
            if reported.get("error"):
                trial.set_user_attr("harness.error", str(reported["error"])[:500])
            if isinstance(reported.get("test_accuracy"), (int, float)):
                trial.set_user_attr("harness.test_accuracy", float(reported["test_accuracy"]))
            if value is None:
                study.tell(trial, state=TrialState.FAIL)
                log.warning("trial %d FAILED (%s): told Optuna; the study goes on", trial.number,
                            reported.get("error") or reported.get("status"))
            else:
                study.tell(trial, value)
                log.info("trial %d: %s = %.6g %s", trial.number, sweeper.metric, value, trial.params)
        returns.append(results)
    from hydra_plugins.harness_optuna_sweeper._summary import write_summary

    try:
        write_summary(study, sweep_dir / SUMMARY_DIR, sweeper.metric, redact(storage))
    except Exception:  # the study is stored; a plot must not fail the sweep
        log.exception("could not write the study summary")
    return returns
