"""Hook specifications: the whole surface a plugin can implement.

Every plugin, built-in or third-party, is a module registered through the ``harness``
entry-point group (see :mod:`harness.plugins`). It implements any subset of the hooks
below, decorated with :data:`harness.hookimpl`.

Two kinds of hooks live here:

* **Registration hooks** (``harness_register_*``) receive a ``register`` callable and
  call it once per name they provide. The core calls each plugin's implementation on
  its own, so every name is attributed to the plugin that registered it and a name
  registered twice is reported with both plugins named.
* **Run-event hooks** (``harness_run_*``, ``harness_epoch_end``, ``harness_step_end``)
  are called by the training loop at run, epoch and step boundaries. Tracking,
  progress display and diagnostics are plugins on these hooks; the core knows none of
  them.

A test (``tests/test_hookspecs.py``) fails when a hook below has no docstring or is
missing from the README's hook table, so docs and surface cannot drift apart.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("harness")


# --------------------------------------------------------------------------- engines


@hookspec
def harness_register_engines(register):
    """Register training engines.

    Call ``register(name, factory)``. ``factory()`` returns an engine object with
    ``build_model(layers, loss, *, input_dim, rng, dtype)`` returning a model with the
    surface :mod:`harness.model` describes, plus the gradient-check adapters
    ``layer_forward``, ``layer_gradients``, ``loss_forward`` and ``loss_gradient``. The
    same model config trains through any engine that provides its layer names
    (``engine=backprop``, ``engine=autograd``).
    """


# ----------------------------------------------------- layers, activations, losses


@hookspec
def harness_register_layers(register):
    """Register layers for an engine.

    Call ``register(name, factory, engine="backprop")``. ``factory(**options)`` gets
    the options of one ``model.layers`` entry (everything but ``type``), validates
    them, and returns a layer; the engine then calls ``layer.build(input_dim, rng,
    dtype)`` once the input size is known. A layer exposes ``forward``, ``backward``
    (or an autograd graph), ``params`` and ``grads`` (dicts of arrays with equal keys).
    A layer that draws random numbers (dropout) offers ``reseed(seed)`` so gradient
    checks can replay it; ``check_options`` on the factory gives the options checks
    build it with when it has required ones (``{"units": 3}`` for ``dense``).
    """


@hookspec
def harness_register_activations(register):
    """Register activation functions for an engine.

    Same contract as :func:`harness_register_layers`; activations are layers without
    parameters and may appear anywhere in ``model.layers`` (``{type: relu}``).
    """


@hookspec
def harness_register_losses(register):
    """Register losses for an engine.

    Call ``register(name, factory, engine="backprop")``. ``factory(**options)``
    returns a loss with ``forward(outputs, labels) -> float`` (mean over the batch)
    and ``backward() -> d_outputs``. Labels are integer class indices.
    """


# ------------------------------------------------------ optimizers and schedules


@hookspec
def harness_register_optimizers(register):
    """Register optimizers.

    Call ``register(name, factory)``. ``factory(**options)`` gets the ``optimizer``
    config section (minus ``name``), validates it and returns an optimizer with
    ``step(named_params)`` over ``(name, value, grad)`` triples (values updated in
    place), a settable ``lr`` attribute, and ``state_dict()`` / ``load_state_dict()``,
    with ``state_dict()`` returning ``{"steps": int, "slots": {param name: {slot name:
    ndarray}}}``, the layout checkpoints store.
    Batch, stochastic and mini-batch descent are batching modes of the loop, not
    optimizers.
    """


@hookspec
def harness_register_schedules(register):
    """Register learning-rate schedules.

    Call ``register(name, factory)``. ``factory(**options)`` returns a schedule with
    ``lr(base_lr, epoch, total_epochs) -> float``; the loop sets the optimizer's
    ``lr`` from it at the start of every epoch (epochs count from 0).
    """


# ---------------------------------------------------------------- gradient checks


@hookspec
def harness_register_gradient_checkers(register):
    """Register gradient checkers: the conformance suite ``harness check`` runs.

    Call ``register(name, factory)``. ``factory()`` returns a checker with a ``name`` and
    ``check(subject) -> list[CheckResult]`` (:mod:`harness.conformance`): one record per
    parameter (component, check, parameter, error, tolerance, passed or skipped with the
    reason), not printed text, so ``harness check``, the pytest plugin and a plugin's own
    tests all read them. ``applies_to(subject)`` picks what it checks: one component of
    one engine (``backprop:dense``), a name registered for several engines
    (``autograd+backprop:dense``) or an optimizer; without it, the single-engine layers,
    activations and losses.
    """


# ------------------------------------------------------------------------ sweeps


@hookspec
def harness_sweep_start(config):
    """A multirun sweep starts, in the launching process, before any job.

    ``config`` is the sweep's Hydra config (``config.hydra.sweep.dir`` is where jobs
    write). A tracking plugin creates its store and a parent run here and leaves what
    the jobs need in the sweep folder. Called for every launcher.
    """


@hookspec
def harness_sweep_end(config, jobs):
    """A multirun sweep ended, in the launching process.

    ``jobs`` lists each job's outcome (``status``: FINISHED, SKIPPED, FAILED or KILLED,
    ``error``, ``dir``). Summaries across the sweep are drawn here; a tracking plugin
    closes the parent run. Not called if the launcher itself dies (Ctrl-C, SIGKILL).
    """


# ------------------------------------------------------------------ configuration


@hookspec
def harness_register_config_dirs(register):
    """Add Hydra config options without editing the core's ``conf/``.

    Call ``register(path)`` with a directory laid out like ``conf/``
    (``optimizer/<name>.yaml``, ``model/<name>.yaml``), or a ``pkg://`` / ``file://``
    URL. It is searched after the core's directory, so its files become options
    (``harness-train optimizer=<name>``) but cannot replace the core's. Read by
    :mod:`harness.config_search` whenever Hydra composes harness's configuration.
    """


# ------------------------------------------------------------------ command line


@hookspec
def harness_register_commands(subparsers):
    """Add subcommands to the ``harness`` command.

    ``subparsers`` is the argparse sub-parser collection: call
    ``subparsers.add_parser(name, help=...)`` and ``set_defaults(handler=fn)``; ``fn(args)``
    returns the exit code. Keep imports inside the handler: every ``harness`` call loads
    every plugin.
    """


# ------------------------------------------------------------------------ datasets


@hookspec
def harness_register_datasets(register):
    """Register datasets.

    Call ``register(name, factory)``. ``factory(**options)`` gets the ``data`` config
    section (minus ``name``), validates it and returns a dataset object with
    ``input_dim`` and ``num_classes`` known before loading, and ``load() -> Splits``
    (train / validation / test arrays, see :class:`harness.data.splits.Splits`), each
    split with at least one example.
    """


# ------------------------------------------------------------------ validation


@hookspec
def harness_validate_config(config):
    """Check this plugin's own config section before anything is loaded or trained.

    ``config`` is the validated :class:`harness.config.HarnessConfig`; plugin sections
    are in ``config.section(name)``. Raise :class:`harness.errors.ConfigError` with one
    line naming the field (``reports.misclassified must be an integer >= 0, got 'abc'``).
    A tracking plugin may also check that its store is reachable here.
    """


# ---------------------------------------------------------------------- run events


@hookspec
def harness_run_start(run):
    """A run begins: the model, data and optimizer are built, no step taken yet.

    ``run`` is a :class:`harness.training.run.Run`: its config, the composed config
    as YAML, the model and a ``state`` dict in which plugins keep what they need
    between events (a tracking run id, a progress bar).
    """


@hookspec
def harness_epoch_start(run, epoch):
    """An epoch begins (``epoch`` counts from 0); ``run.lr`` holds its learning rate."""


@hookspec
def harness_step_end(run, step, loss, batch_size, correct):
    """One optimizer step finished. Called on the training hot path: keep it cheap.

    ``step`` counts steps over the whole run from 1; ``loss`` is the batch's mean loss
    and ``correct`` how many of its ``batch_size`` examples were classified right.
    """


@hookspec
def harness_epoch_end(run, epoch, metrics):
    """An epoch finished.

    ``metrics`` maps names to floats: ``train_loss``, ``train_accuracy``,
    ``val_loss``, ``val_accuracy``, ``lr``, ``epoch_seconds``.
    """


@hookspec
def harness_log_metrics(run, records):
    """Record extra metrics for the run (a tracking plugin implements this).

    ``records`` is a list of ``(step, {name: value})``. Plugins that measure something
    (diagnostics) call ``run.log_metrics(records)``, which calls this hook, so they never
    need to know which tracking backend, if any, is listening.
    """


@hookspec
def harness_checkpoint_saved(run, directory, epoch):
    """A checkpoint of the run was written (atomically) to ``directory``.

    ``epoch`` counts the epochs finished. A tracking plugin uploads it so the run can
    be resumed from its id on another machine.
    """


@hookspec(firstresult=True)
def harness_locate_checkpoint(reference, config):
    """Turn ``resume=<reference>`` into a local checkpoint directory, or return ``None``.

    Asked only when the reference is not an existing directory. A tracking plugin
    recognises its own run ids and downloads the run's last checkpoint into
    ``<fresh temporary folder>/checkpoint``; the core deletes that temporary folder once
    the checkpoint is read. The first non-``None`` answer wins; an unknown id of the
    plugin's own kind is a one-line :class:`harness.errors.HarnessError`.
    """


@hookspec(firstresult=True)
def harness_find_finished(run):
    """Return the summary of an identical, already finished run, or ``None``.

    Called before training a job of a sweep (``run.sweep`` is set, ``run.config_hash``
    identifies the composed config): re-running a sweep after a crash skips what is done.
    """


@hookspec
def harness_run_end(run, status, error):
    """The run ended.

    ``status`` is ``"FINISHED"``, ``"FAILED"`` or ``"KILLED"``; ``error`` is the
    exception that ended it, or ``None``. On success ``run.summary`` holds the final
    metrics (``test_accuracy``, ``test_loss``, ``train_seconds``, ``epochs``).
    Implementations must not raise: every plugin gets to close what it opened.
    """
