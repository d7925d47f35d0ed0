"""Hook specifications: the whole surface a plugin can implement.

Every plugin, built-in or third-party, is a module registered through the ``harness``
entry-point group (see :mod:`harness.plugins`). It implements any subset of the hooks
below, decorated with :data:`harness.hookimpl`, and any implementation may take a
subset of a hook's arguments (pluggy passes each implementation only what it names).
Hooks are called only through pluggy, so ``tryfirst``/``trylast`` and ``wrapper=True``
implementations behave as pluggy documents.

Four kinds of hooks live here:

* **Registration hooks** (``harness_register_*``) receive a ``register`` callable and
  call it once per name they provide. Each plugin's implementation is called on its own,
  so every name is attributed to the plugin that registered it and a name registered
  twice is reported with both plugins named. What a factory returns must satisfy the
  Protocol of its kind in :mod:`harness.contracts`.
* **Configuration and command-line hooks**, called when a command starts.
* **Run-event hooks** (``harness_run_*``, ``harness_epoch_*``, ``harness_step_end``...),
  called by the training loop. Tracking, progress display and diagnostics are plugins on
  these hooks; the core knows none of them. Every one receives ``run``, the run's frozen
  :class:`harness.records.RunInfo`.
* **Sweep hooks** (``harness_sweep_*``, ``harness_compare_runs``), in the process that
  launches a multirun sweep.

``tests/test_docs.py`` checks this surface against ``docs/plugins.md`` (names and
signatures), and every hook is exercised by a test that fails if the core stops calling it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import argparse

    from omegaconf import DictConfig

    from harness.config import HarnessConfig
    from harness.contracts import Engine, Model
    from harness.records import RunInfo, RunRecord, RunResult, Splits, SweepInfo

hookspec = pluggy.HookspecMarker("harness")


# --------------------------------------------------------------------------- engines


@hookspec
def harness_register_engines(register: Callable[..., None]) -> None:
    """Register training engines.

    :param register: call ``register(name, factory)``; ``factory()`` returns an
        :class:`harness.contracts.Engine`. The same model config trains through any
        engine that provides its layer names (``engine=backprop``, ``engine=autograd``).
    """


# ----------------------------------------------------- layers, activations, losses


@hookspec
def harness_register_layers(register: Callable[..., None]) -> None:
    """Register layers for an engine.

    :param register: call ``register(name, factory, engine="backprop")``.
        ``factory(**options)`` gets the options of one ``model.layers`` entry (everything
        but ``type``), validates them (raise :class:`harness.ConfigError` with one line
        naming the option) and returns an unbuilt :class:`harness.contracts.Layer`. A
        ``check_options`` dict on the factory gives the options ``harness check`` builds
        it with when it has required ones (``{"units": 3}`` for ``dense``).
    """


@hookspec
def harness_register_activations(register: Callable[..., None]) -> None:
    """Register activation functions for an engine.

    :param register: as for :func:`harness_register_layers`; activations are layers
        without parameters and may appear anywhere in ``model.layers`` (``{type: relu}``).
    """


@hookspec
def harness_register_losses(register: Callable[..., None]) -> None:
    """Register losses for an engine.

    :param register: call ``register(name, factory, engine="backprop")``.
        ``factory(**options)`` returns a loss the engine knows how to call (for
        ``backprop``: ``forward(outputs, labels) -> float``, the batch mean, and
        ``backward() -> d_outputs``). Labels are integer class indices. A
        ``check_variants`` list of option dicts on the factory makes ``harness check``
        verify the loss with each of them too (``[{"label_smoothing": 0.1}]``).
    """


# ------------------------------------------------------ optimizers and schedules


@hookspec
def harness_register_optimizers(register: Callable[..., None]) -> None:
    """Register optimizers.

    :param register: call ``register(name, factory)``. ``factory(**options)`` gets the
        ``optimizer`` config section (minus ``name``), validates it and returns an
        :class:`harness.contracts.Optimizer` (or a
        :class:`harness.contracts.ClosureOptimizer`). The optimizer applies its own
        weight decay and clipping. Batch, stochastic and mini-batch descent are
        batching modes of the loop, not optimizers.
    """


@hookspec
def harness_register_schedules(register: Callable[..., None]) -> None:
    """Register learning-rate schedules.

    :param register: call ``register(name, factory)``. ``factory(**options)`` gets the
        ``schedule`` section (minus ``name``) and returns a
        :class:`harness.contracts.Schedule`: asked once per epoch (epochs count from 0),
        or before every step when its class sets ``per_step = True``. ``harness check``
        builds it with the factory's ``check_options`` (if any).
    """


# ---------------------------------------------------------------- gradient checks


@hookspec
def harness_register_gradient_checkers(register: Callable[..., None]) -> None:
    """Register checkers: the conformance suite ``harness check`` runs.

    :param register: call ``register(name, factory)``. ``factory()`` returns a
        :class:`harness.contracts.GradientChecker`: ``check(subject)`` returns one
        :class:`harness.conformance.CheckResult` per parameter (component, check,
        parameter, error, tolerance, passed or skipped with the reason), not printed
        text, so ``harness check``, the pytest plugin and a plugin's own tests all read
        them; ``applies_to(subject)`` picks the subjects it checks.
    """


# ------------------------------------------------------------------------ datasets


@hookspec
def harness_register_datasets(register: Callable[..., None]) -> None:
    """Register datasets.

    :param register: call ``register(name, factory)``. ``factory(**options)`` gets the
        ``data`` config section (minus ``name``), validates it and returns a
        :class:`harness.contracts.Dataset` (``input_dim`` and ``num_classes`` known
        before loading, ``load() -> Splits``, ``fetch()``). A ``check_options`` dict on
        the factory gives the options ``harness check`` builds it with: a few examples,
        and no download (``fetch()`` raising :class:`harness.DataError` when the files
        are not in the cache makes the check skip with that reason).
    """


# ------------------------------------------------------------------ configuration


@hookspec
def harness_register_config_dirs(register: Callable[[str | Path], None]) -> None:
    """Add Hydra config options without editing the core's ``conf/``.

    :param register: call ``register(path)`` with a directory laid out like ``conf/``
        (``optimizer/<name>.yaml``, ``tracking/<name>.yaml``), or a ``pkg://`` /
        ``file://`` URL. It is searched after the core's directory, so its files become
        options (``harness-train optimizer=<name>``) but cannot replace the core's.
        Built-in plugins ship their options this way too.
    """


@hookspec
def harness_register_config_sections(register: Callable[..., None]) -> None:
    """Declare this plugin's top-level config sections.

    :param register: call ``register(name, *, default=None, hashed=True)``. ``default``
        (a mapping) is the section's contents when a config says nothing of it: it appears
        in every composed config (``harness-train --cfg job``), so ``name.key=value``
        overrides work without Hydra's ``+``. ``hashed=False`` says the section changes
        how a run is recorded or shown, not what it computes, so it is left out of the
        config hash that identifies identical runs (``tracking``, ``progress``). A section
        no loaded plugin declares or reads is refused with a suggestion when it looks like
        a typo.
    """


@hookspec
def harness_validate_config(config: HarnessConfig) -> None:
    """Check this plugin's own config section before anything is loaded or trained.

    :param config: the validated :class:`harness.config.HarnessConfig`; plugin sections
        are in ``config.section(name)``. Raise :class:`harness.ConfigError` with one line
        naming the field (``reports.misclassified must be an integer >= 0, got 'abc'``).
        A tracking plugin may also check that its store is reachable here.
    """


# ------------------------------------------------------------------ command line


@hookspec
def harness_register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add subcommands to the ``harness`` command.

    :param subparsers: the argparse sub-parser collection: call
        ``subparsers.add_parser(name, help=...)`` and ``set_defaults(handler=fn)``;
        ``fn(args)`` returns the exit code and raises :class:`harness.HarnessError` for a
        one-line error. Keep imports inside the handler: every ``harness`` call loads
        every plugin.
    """


# ---------------------------------------------------------------------- run events


@hookspec
def harness_run_start(run: RunInfo, model: Model, engine: Engine, data: Splits, result: RunResult) -> None:
    """A run begins: the model, data and optimizer are built, no step taken yet.

    :param run: the run's description (config, sizes, paths; frozen).
    :param model: the model about to be trained; its arrays change in place as it trains.
    :param engine: the engine that built it (to rebuild parts, such as a probe).
    :param data: the training, validation and test splits.
    :param result: the record the run fills. A tracker puts its run id in
        ``result.ids`` (checkpoints keep them); a resumed run's result holds the ids it
        had, so the tracker continues the same record.

    Raising here fails the run before training (the run-end hook still runs).
    """


@hookspec
def harness_epoch_start(run: RunInfo, epoch: int, lr: float) -> None:
    """An epoch begins.

    :param run: the run.
    :param epoch: the epoch, counted from 0.
    :param lr: the learning rate its first step uses.
    """


@hookspec
def harness_step_end(run: RunInfo, step: int, loss: float, batch_size: int, correct: int, lr: float) -> None:
    """One optimizer step finished. Called on the training hot path: keep it cheap.

    :param run: the run.
    :param step: steps over the whole run, counted from 1.
    :param loss: the batch's mean loss (before the step).
    :param batch_size: examples in the batch.
    :param correct: how many of them the model classified right.
    :param lr: the learning rate the step used.

    Raise :class:`harness.StopTraining` to end training here, as a finished run.
    """


@hookspec
def harness_epoch_end(run: RunInfo, epoch: int, metrics: dict[str, float]) -> None:
    """An epoch finished (validated when due, recorded in the history).

    :param run: the run.
    :param epoch: the epoch that finished, counted from 0.
    :param metrics: ``train_loss``, ``train_accuracy``, ``lr``, ``epoch_seconds``,
        ``samples_per_second``, and ``val_loss``, ``val_accuracy`` when the epoch was
        validated: every epoch by default, every ``training.val_every``-th and the last
        otherwise (test ``"val_accuracy" in metrics``).

    Raise :class:`harness.StopTraining` to end training after this epoch.
    """


@hookspec
def harness_train_end(run: RunInfo, model: Model, data: Splits, result: RunResult) -> None:
    """Training is over, however it stopped (last epoch, time budget, early stopping, a
    plugin's :class:`harness.StopTraining`); the best epoch's weights are restored if
    asked; the test set is not scored yet.

    :param run: the run.
    :param model: the trained model: a plugin may change its weights here (weight
        averaging swaps its average in), and what it leaves is what is tested and saved.
    :param data: the splits (to validate a change before it is kept).
    :param result: the history and summary so far (``epochs``, ``best_epoch``...).

    Not called when training failed or was interrupted.
    """


@hookspec
def harness_log_metrics(run: RunInfo, records: list[tuple[int, dict[str, float]]]) -> None:
    """Record extra metrics for the run (a tracking plugin implements this).

    :param run: the run.
    :param records: ``(step, {name: value})`` pairs. Plugins that measure something
        call ``run.log_metrics(records)``, which calls this hook, so they never need to
        know which tracker, if any, is listening.
    """


@hookspec
def harness_checkpoint_saved(run: RunInfo, directory: Path, epoch: int) -> None:
    """A checkpoint of the run was written (atomically and verified) to ``directory``.

    :param run: the run.
    :param directory: the checkpoint folder (a manifest and the arrays it names).
    :param epoch: the epochs finished.

    A tracking plugin uploads it so the run can be resumed from its id elsewhere.
    """


@hookspec(firstresult=True)
def harness_locate_checkpoint(reference: str, config: DictConfig) -> Path | None:
    """Turn ``resume=<reference>`` into a local checkpoint directory, or return ``None``.

    :param reference: what the user typed after ``resume=`` (not an existing folder).
    :param config: the composed config of this invocation.

    A tracking plugin recognises its own run ids and downloads the run's last checkpoint
    into ``<fresh temporary folder>/checkpoint``; the core deletes that temporary folder
    once the checkpoint is read. The first non-``None`` answer wins; an unknown id of
    the plugin's own kind, or a run that cannot be resumed (still running, finished), is
    a one-line :class:`harness.HarnessError`.
    """


@hookspec(firstresult=True)
def harness_find_finished(run: RunInfo) -> RunRecord | None:
    """Return the record of an identical, already finished run, or ``None``.

    :param run: a job of a sweep about to train (``run.sweep`` set; ``run.config_hash``
        identifies the composed config).

    Re-running a sweep after a crash skips what is done; the record (summary and
    history) stands in for the skipped job in the sweep's comparison.
    """


@hookspec
def harness_run_artifacts(run: RunInfo, result: RunResult) -> list[Path] | None:
    """Return the files this plugin produced for the run (plots, tables), or nothing.

    :param run: the run.
    :param result: its result so far (status, history, summary, test predictions).

    Called once training is over, for every status, before :func:`harness_run_end`;
    everything returned is in ``result.artifacts`` there, where a tracker uploads it.
    Write into ``run.output_dir``. One plugin failing here does not stop the others.
    """


@hookspec
def harness_run_end(run: RunInfo, status: str, error: BaseException | None, result: RunResult) -> None:
    """The run ended.

    :param run: the run.
    :param status: ``"FINISHED"``, ``"FAILED"`` or ``"KILLED"``.
    :param error: the exception that ended it, or ``None``.
    :param result: everything it produced: ``summary`` (``test_accuracy``, ``test_loss``,
        ``train_seconds``, ``epochs``...), ``history``, ``artifacts``, ``diverged_step``.

    Every plugin gets its turn even if another raises (the failure is logged); a plugin
    that could not record the run raises :class:`harness.TrackingError`, which makes the
    command exit non-zero.
    """


# ------------------------------------------------------------------------ sweeps


@hookspec
def harness_sweep_start(sweep: SweepInfo) -> None:
    """A multirun sweep starts, in the launching process, before any job.

    :param sweep: the sweep (its folder, name, overrides, swept keys, Hydra config).

    A tracking plugin creates its store and a parent run here and leaves what the jobs
    need in the sweep folder. Called for every launcher.
    """


@hookspec
def harness_compare_runs(runs: list[RunRecord], folder: Path, title: str, metric: str) -> list[Path] | None:
    """Draw a comparison of finished runs into ``folder``; return the files written.

    :param runs: one record per run (name, status, params, summary, history, folder).
    :param folder: where to write.
    :param title: what the runs are (the experiment's name).
    :param metric: the per-epoch metric to compare (``val_accuracy`` unless asked otherwise).

    Called at the end of a sweep over its jobs, and by ``harness compare`` over runs
    read back from a store.
    """


@hookspec
def harness_sweep_end(sweep: SweepInfo, jobs: list[RunRecord], artifacts: list[Path]) -> None:
    """A multirun sweep ended, in the launching process.

    :param sweep: the sweep.
    :param jobs: each job's outcome (``status``: FINISHED, SKIPPED, FAILED or KILLED;
        ``error``, ``summary``, ``history``, ``dir``).
    :param artifacts: the comparison files :func:`harness_compare_runs` produced and the
        files left in ``sweep.summary_dir``; a tracker attaches them to its parent run.

    Not called if the launcher itself dies (Ctrl-C, SIGKILL).
    """
