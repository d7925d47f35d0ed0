"""The run hooks of the lessons plugin: what it records while a run trains, and draws after.

Per run (kept here, keyed by the run, not on the run):

* with ``schedule=lr_range``: a :class:`~harness_lessons.lr_range.RangeTest` fed after
  every step; when the loss explodes it stops training (:class:`harness.StopTraining`,
  so the run ends FINISHED), and at the end the suggested rate is logged, put in the
  run's summary (``suggested_lr``) and its plot attached;
* with ``lessons.loss_curve: true``: the loss against loss evaluations
  (:mod:`~harness_lessons.evaluations`), drawn across a sweep's runs by
  :func:`compare_runs`;
* with ``lessons.graph: true`` and ``engine=scalar``: the computational graph of the
  loss on the first training example(s), drawn with the trained weights.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from pathlib import Path

from harness import ConfigError
from harness import validation as v
from harness_lessons import evaluations
from harness_lessons.lr_range import LrRange, RangeTest

log = logging.getLogger("harness.lessons")

SECTION = "lessons"
DEFAULTS = {"graph": False, "graph_examples": 1, "graph_max_nodes": 3000, "loss_curve": False}


def options(config) -> dict:
    """The ``lessons`` section, validated: one line naming the field if wrong."""
    given = config.section(SECTION)
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"{SECTION}: unknown option {', '.join(map(repr, unknown))}; accepted: {', '.join(DEFAULTS)}")
    merged = {**DEFAULTS, **given}
    return {
        "graph": v.boolean(f"{SECTION}.graph", merged["graph"]),
        "graph_examples": v.integer(f"{SECTION}.graph_examples", merged["graph_examples"], low=1, high=16),
        "graph_max_nodes": v.integer(f"{SECTION}.graph_max_nodes", merged["graph_max_nodes"], low=1),
        "loss_curve": v.boolean(f"{SECTION}.loss_curve", merged["loss_curve"]),
    }


def validate(config) -> None:
    chosen = options(config)
    if chosen["graph"] and config.engine.get("name") != "scalar":
        raise ConfigError(f"{SECTION}.graph draws the scalar engine's Value graph: set engine=scalar "
                          f"(engine={config.engine.get('name')} builds no per-number graph)")
    schedule, optimizer = config.schedule, config.optimizer
    if schedule.get("name") == LrRange.kind:
        test = range_schedule(schedule)
        lr = optimizer.get("lr")
        if isinstance(lr, (int, float)) and not test.max_lr > lr:
            raise ConfigError(f"schedule.max_lr must be above optimizer.lr ({lr:g}), where the range test starts; got {test.max_lr:g}")


def range_schedule(section: dict) -> LrRange:
    return LrRange(**{k: val for k, val in section.items() if k != "name"})


# ---------------------------------------------------------------- per-run state


@dataclass
class _Recording:
    range_test: RangeTest | None = None
    curve: evaluations.LossCurve | None = None
    graph: tuple | None = None  # (model, x, y, max_nodes)


_runs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def run_start(run, model, data) -> None:
    config = run.config
    chosen = options(config)
    recording = _Recording()
    if config.schedule.get("name") == LrRange.kind:
        recording.range_test = RangeTest(range_schedule(config.schedule))
    if chosen["loss_curve"]:
        name = config.optimizer["name"]
        recording.curve = evaluations.LossCurve(name, _evaluations_per_step(name))
    if chosen["graph"]:
        count = chosen["graph_examples"]
        recording.graph = (model, data.train_x[:count], data.train_y[:count], chosen["graph_max_nodes"])
    if recording.range_test or recording.curve or recording.graph:
        _runs[run] = recording


def _evaluations_per_step(optimizer_name: str) -> int:
    """Loss evaluations one step of this optimizer costs (its class says; a gradient step: 1)."""
    from harness import get_registry

    try:
        factory = get_registry().get("optimizer", optimizer_name).factory
    except Exception:  # an optimizer the registry cannot name: count one per step
        return 1
    return int(getattr(factory, "evaluations_per_step", 1))


def step_end(run, step: int, loss: float, lr: float) -> None:
    recording = _runs.get(run)
    if recording is None:
        return
    if recording.curve is not None:
        recording.curve.add_step(step, loss)
    test = recording.range_test
    if test is not None and test.add(step, lr, loss):
        from harness import StopTraining

        raise StopTraining(
            f"lr_range: the loss exploded at lr {lr:.3g} (smoothed {test.smoothed[-1]:.3g} > "
            f"{test.schedule.stop_factor:g} x its minimum)"
        )


def epoch_end(run, metrics: dict) -> None:
    recording = _runs.get(run)
    if recording is not None and recording.curve is not None and recording.curve.steps and "val_accuracy" in metrics:
        recording.curve.add_epoch(recording.curve.steps[-1], metrics["val_accuracy"])


def run_artifacts(run, result) -> list[Path]:
    recording = _runs.pop(run, None)
    if recording is None:
        return []
    made: list[Path] = []
    for name, draw in (("lr range test", _range_test), ("loss curve", _loss_curve), ("computational graph", _graph)):
        try:
            made += draw(run, result, recording)
        except Exception as exc:  # one drawing failing must not lose the others
            log.error("lessons: could not write the %s: %s: %s", name, type(exc).__name__, exc)
    return made


def _range_test(run, result, recording: _Recording) -> list[Path]:
    test = recording.range_test
    if test is None or not test.steps:
        return []
    import json

    from harness import atomic_write
    from harness_lessons import lr_range

    s = test.suggest()
    folder = run.output_dir / "lr_range"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "lr_range.json", json.dumps(test.as_dict(), default=float).encode())
    plot = lr_range.plot(test, folder / "lr_range.png", title=f"{run.config.name}: learning-rate range test")
    result.summary["suggested_lr"] = s.lr
    final = {"lr_range/suggested_lr": s.lr, "lr_range/min_loss_lr": s.min_loss_lr, "lr_range/steepest_lr": s.steepest_lr}
    if s.exploded_at is not None:
        final["lr_range/exploded_at_lr"] = s.exploded_at
    run.log_metrics([*test.records(), (test.steps[-1], final)])
    log.info("lr range test: the loss %s; minimum of the smoothed loss at lr %.3g, steepest descent at lr %.3g",
             f"exploded at lr {s.exploded_at:.3g}" if s.exploded_at is not None else "never exploded",
             s.min_loss_lr, s.steepest_lr)
    log.info("suggested learning rate %.3g (%s); train with: harness-train optimizer.lr=%.3g", s.lr, s.rule, s.lr)
    return [plot, folder / "lr_range.json"]


def _loss_curve(run, result, recording: _Recording) -> list[Path]:
    if recording.curve is None:
        return []
    extra = {"label": run.name, "status": result.status}
    for key in ("test_accuracy", "train_seconds"):
        if key in result.summary:
            extra[key] = result.summary[key]
    return [evaluations.write(recording.curve, run.output_dir, **extra)]


def _graph(run, result, recording: _Recording) -> list[Path]:
    if recording.graph is None:
        return []
    from harness_autograd.graphs import loss_graph
    from harness_lessons import dot

    model, x, y, limit = recording.graph
    loss, labels = loss_graph(model, x, y)
    source, count = dot.value_graph(loss, labels, title=f"{run.config.name}: the loss on {len(y)} training example(s), trained weights")
    if count > limit:
        log.warning("lessons: the computational graph has %d nodes, more than lessons.graph_max_nodes=%d: not drawn "
                    "(a smaller model, or fewer lessons.graph_examples)", count, limit)
        return []
    folder = run.output_dir / "graph"
    text, _ = dot.render(source, folder / "computational_graph.dot")  # the source too: re-render it as you like
    written, note = dot.render(source, folder / "computational_graph.svg")
    log.info("computational graph (%d nodes) written to %s", count, written)
    if note:
        log.info("%s", note)
    return sorted({text, written})


def compare_runs(runs, folder: Path, title: str = "") -> list[Path]:
    """The loss-per-evaluation plot over the runs that recorded a curve (a sweep's jobs)."""
    curves = [(run.name, curve) for run in runs if (curve := evaluations.read(run.dir)) is not None]
    if not curves:
        return []
    for name, curve in curves:
        test = curve.get("test_accuracy")
        best = max(curve["val_accuracy"], default=float("nan"))
        log.info("%s: %d loss evaluations (%d per step), best validation accuracy %.2f%%%s", name,
                 curve["evaluations"][-1] if curve["evaluations"] else 0, curve["evaluations_per_step"], 100 * best,
                 f", test accuracy {100 * test:.2f}%" if isinstance(test, (int, float)) else "")
    return [evaluations.plot(curves, folder / "loss_per_evaluation.png", title=title)]
