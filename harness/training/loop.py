"""The training loop: epochs of optimizer steps, validation, model selection, test.

Engine-agnostic: it sees a :class:`~harness.contracts.Model`, an
:class:`~harness.contracts.Optimizer`, a :class:`~harness.contracts.Schedule` and index
batches. Everything else a run does (tracking, progress, diagnostics, plots) happens in
plugins called at the run-event hooks. A run that started always ends through
``harness_run_end`` with status FINISHED, FAILED or KILLED; the model is validated every
``training.val_every`` epochs and after the last, a checkpoint is written every
``training.checkpoint_every`` epochs and when a signal stops the run, and a run resumed
from one continues bit for bit.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from harness import plugins
from harness.contracts import ClosureOptimizer, Model, Optimizer, Schedule, StepSchedule
from harness.errors import DivergenceError, StopTraining, TrackingError
from harness.records import RunInfo, RunResult, Splits
from harness.training import arrays, checkpoint
from harness.training.batching import epoch_batches, gather_rows
from harness.training.divergence import check_weights, divergence
from harness.training.evaluation import evaluate
from harness.training.interrupts import InterruptGuard, StopRequested

log = logging.getLogger("harness.train")


class Trainer:
    """Fits one model on one set of splits and records the run."""

    def __init__(self, run: RunInfo, result: RunResult, model: Model, engine: object, optimizer: Optimizer,
                 schedule: Schedule, splits: Splits, pm: plugins.PluginManager,
                 shuffle_rng: np.random.Generator, data_rng: np.random.Generator):
        self.run, self.result = run, result
        self.model, self.engine = model, engine
        self.optimizer, self.schedule = optimizer, schedule
        self.splits = splits
        self.pm, self.hook = pm, pm.hook
        self.shuffle_rng, self.data_rng = shuffle_rng, data_rng
        self.settings = run.config
        self.batch_size = run.batch_size
        self.base_lr = optimizer.lr
        self.per_step_lr = isinstance(schedule, StepSchedule) and schedule.per_step is True
        self.closure_steps = isinstance(optimizer, ClosureOptimizer) and optimizer.uses_closure is True
        self.state = checkpoint.TrainingState()
        self.guard = InterruptGuard()
        self.stop_reason: str | None = None

    # ------------------------------------------------------------------ public

    def resume(self, directory: Path) -> None:
        """Continue from the checkpoint in ``directory`` instead of from scratch."""
        self.state = checkpoint.restore(
            directory, model=self.model, optimizer=self.optimizer,
            shuffle_rng=self.shuffle_rng, data_rng=self.data_rng,
        )
        self.result.history = self.state.history
        log.info("resuming from %s: epoch %d, step %d", directory, self.state.epoch + 1, self.state.step)

    def fit(self) -> RunResult:
        """Train, select, test; the run-end hooks are called whatever happens."""
        with self.guard:
            status, error = "FINISHED", None  # type: str, BaseException | None
            try:
                self.hook.harness_run_start(run=self.run, model=self.model, engine=self.engine, data=self.splits,
                                            result=self.result)
                self._train()
                self._test()
            except StopRequested as exc:  # stopped cleanly between two steps: keep where we are
                status, error = "KILLED", exc
                self._save_checkpoint(final=True)
                raise
            except KeyboardInterrupt as exc:  # stopped at once, possibly mid-step: no checkpoint
                status, error = "KILLED", exc
                raise
            except BaseException as exc:
                status, error = "FAILED", exc
                raise
            finally:
                self.guard.closing = True  # a signal now must not cut the plugins' cleanup short
                self._end(status, error)
        if self.guard.requested is not None:  # it came while the finished run was being recorded
            raise StopRequested(self.guard.requested, finished_run=self.result)
        return self.result

    # ---------------------------------------------------------------- training

    def _train(self) -> None:
        training = self.settings.training
        st = self.state
        while st.epoch < training.epochs and self.stop_reason is None:
            # From the epoch's first step until its bookkeeping is done (validation, history,
            # best weights, checkpoint), a signal waits: stopping in between would leave a
            # checkpoint in which the epoch is both counted and still to finish.
            self.guard.deferring = True
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported in one line instead
                metrics = self._epoch(st.epoch)
            if metrics is None:  # diverged, recorded as the run's result
                break
            st.history.append(metrics)
            self.result.history = st.history
            validated = "val_accuracy" in metrics
            if validated and metrics["val_accuracy"] > st.best_val_accuracy:
                st.best_val_accuracy, st.best_epoch = metrics["val_accuracy"], st.epoch
                if training.restore_best:
                    st.best_arrays = arrays.snapshot(self.model)
            st.epoch += 1
            st.batches_done = 0
            self._epoch_end_hook(st.epoch - 1, metrics)
            log.info(_epoch_line(st.epoch - 1, training.epochs, metrics))
            if training.checkpoint_every and st.epoch % training.checkpoint_every == 0:
                self._save_checkpoint()
            self.guard.deferring = False
            self.guard.check()
            if self._out_of_time():
                log.info("time budget of %.0f s reached after %d epochs", training.max_seconds, st.epoch)
                self.stop_reason = "max_seconds"
            patience = training.early_stopping_patience
            if self.stop_reason is None and validated and patience is not None and st.epoch - 1 - st.best_epoch >= patience:
                log.info("early stopping: no validation improvement for %d epochs", patience)
                self.stop_reason = "early_stopping"
        self.guard.deferring = False
        self.result.stopped_by = self.stop_reason
        self.result.summary.update(train_seconds=st.train_seconds, epochs=len(st.history), steps=st.step)
        if st.best_epoch >= 0:
            self.result.summary.update(best_epoch=st.best_epoch, best_val_accuracy=st.best_val_accuracy)
        if st.best_arrays is not None and (st.best_epoch != len(st.history) - 1 or self.result.diverged):
            log.info("restoring the weights of epoch %d (best validation accuracy %.2f%%)", st.best_epoch + 1, 100 * st.best_val_accuracy)
            arrays.restore(self.model, st.best_arrays)
        self.hook.harness_train_end(run=self.run, model=self.model, data=self.splits, result=self.result)

    def _epoch_end_hook(self, epoch: int, metrics: dict[str, float]) -> None:
        try:
            self.hook.harness_epoch_end(run=self.run, epoch=epoch, metrics=metrics)
        except StopTraining as stop:
            self._stop(stop)

    def _stop(self, stop: StopTraining) -> None:
        if self.stop_reason is None:
            self.stop_reason = stop.reason
            log.info("training stopped by a plugin: %s", stop.reason)

    def _lr(self, epoch: float) -> float:
        lr = float(self.schedule.lr(self.base_lr, epoch, self.settings.training.epochs))
        self.optimizer.lr = lr
        return lr

    def _epoch(self, epoch: int) -> dict[str, float] | None:
        """One epoch of steps and its validation: the epoch's metrics, or ``None`` when
        the run diverged and ``training.on_divergence=record`` made that its result."""
        st = self.state
        per_epoch = self.run.steps_per_epoch
        lr = self._lr(epoch + st.batches_done / per_epoch if self.per_step_lr else epoch)
        epoch_lr = lr
        if st.batches_done == 0:
            st.epoch_rng_state = dict(self.shuffle_rng.bit_generator.state)
            st.loss_sum, st.correct, st.epoch_seconds = 0.0, 0, 0.0
        else:  # resuming inside an epoch: replay its shuffle, skip the batches already done
            self.shuffle_rng.bit_generator.state = st.epoch_rng_state or {}
        self.hook.harness_epoch_start(run=self.run, epoch=epoch, lr=lr)
        step_hook = self.hook.harness_step_end if plugins.has_implementations(self.pm, "harness_step_end") else None
        x, y = self.splits.train_x, self.splits.train_y
        augment = self.splits.augment
        model, optimizer, guard = self.model, self.optimizer, self.guard
        params = model.named_parameters()
        budget = self.settings.training.max_seconds
        started = time.perf_counter()
        done_before = st.epoch_seconds
        batches = epoch_batches(len(y), self.batch_size, self.shuffle_rng, self.settings.gd.shuffle)
        batch_buffer = np.empty((self.batch_size, *x.shape[1:]), dtype=x.dtype) if self.batch_size < len(y) else None
        first = st.batches_done  # the epoch's first step here (the rate above is its rate)
        for i, index in enumerate(batches):
            if i < first:
                continue
            if self.per_step_lr and i > first:
                lr = self._lr(epoch + i / per_epoch)
            xb, yb = gather_rows(x, index, batch_buffer), y[index]
            if augment is not None:
                xb = augment(xb, self.data_rng)
            loss, outputs = model.train_batch(xb, yb)
            if not math.isfinite(loss):
                self._diverged(divergence(loss, params, st.step, epoch, lr, overflow=_overflow_probe(model, xb)), st.step + 1)
                return None
            if self.closure_steps:
                optimizer.step(params, _closure(model, xb, yb))  # type: ignore[call-arg]
            else:
                optimizer.step(params)
            st.step += 1
            st.batches_done = i + 1
            right = int(np.count_nonzero(outputs.argmax(axis=1) == yb))
            st.loss_sum += loss * len(yb)
            st.correct += right
            st.epoch_seconds = done_before + time.perf_counter() - started
            if step_hook is not None:
                try:
                    step_hook(run=self.run, step=st.step, loss=loss, batch_size=len(yb), correct=right, lr=lr)
                except StopTraining as stop:
                    self._stop(stop)
                    break
            guard.check()
            if budget is not None and st.train_seconds + st.epoch_seconds >= budget:
                break
        try:
            check_weights(params, st.step, epoch, lr)
        except DivergenceError as error:
            self._diverged(error, st.step)
            return None
        seconds = st.epoch_seconds
        st.train_seconds += seconds
        seen = min(st.batches_done * self.batch_size, len(y))
        metrics = {
            "train_loss": st.loss_sum / seen,
            "train_accuracy": st.correct / seen,
            "lr": epoch_lr,
            "epoch_seconds": seconds,
            "samples_per_second": seen / seconds if seconds > 0 else float("inf"),
        }
        if self._validation_due(epoch):
            metrics["val_loss"], metrics["val_accuracy"], _ = evaluate(
                model, self.splits.val_x, self.splits.val_y, self.settings.training.eval_batch_size,
                self.settings.model.tta_shift)
        return metrics

    def _validation_due(self, epoch: int) -> bool:
        """Validate after every ``training.val_every``-th epoch, and after one that training
        ends with as far as the loop knows here (the last; the one a time budget or a plugin's
        step hook ends, or a signal that came in its last step), so the final weights are
        always validated. A signal mid-epoch stops inside it: a resumed run finishes it."""
        training = self.settings.training
        return ((epoch + 1) % training.val_every == 0 or epoch + 1 >= training.epochs or self._out_of_time()
                or self.stop_reason is not None or self.guard.requested is not None)

    def _diverged(self, error: DivergenceError, step: int) -> None:
        """``on_divergence=fail`` raises (the run FAILS); ``record`` stops training here and
        keeps the divergence as the run's result: FINISHED, with the step it happened at."""
        if self.settings.training.on_divergence != "record":
            raise error
        self.result.diverged_step = step
        self.result.summary["diverged_step"] = step
        self.state.train_seconds += self.state.epoch_seconds
        self.stop_reason = "diverged"
        log.warning("%s (recorded as the run's result: training.on_divergence=record)", error)

    def _out_of_time(self) -> bool:
        budget = self.settings.training.max_seconds
        return budget is not None and self.state.train_seconds >= budget

    def _test(self) -> None:
        if self.result.diverged and self.state.best_arrays is None:
            log.info("no epoch finished before the divergence: nothing to test")
            return
        loss, acc, predictions = evaluate(self.model, self.splits.test_x, self.splits.test_y, self.settings.training.eval_batch_size,
                                           self.settings.model.tta_shift)
        self.result.summary.update(test_loss=loss, test_accuracy=acc)
        self.result.test_predictions = predictions
        log.info(
            "test accuracy %.2f%% (loss %.4f) after %d epochs, %.1f s of training",
            100 * acc, loss, self.result.summary["epochs"], self.result.summary["train_seconds"],
        )

    # ------------------------------------------------------------- checkpoints

    def _save_checkpoint(self, final: bool = False) -> None:
        if not self.settings.training.checkpoint_every and not final:
            return
        if self.result.diverged:
            return  # non-finite weights are nothing to resume from
        directory = self.run.output_dir / "checkpoint"
        try:
            checkpoint.save(
                directory, model=self.model, optimizer=self.optimizer, shuffle_rng=self.shuffle_rng,
                data_rng=self.data_rng, state=self.state, config_yaml=self.run.config_yaml, ids=self.result.ids,
            )
        except OSError as exc:
            log.error("could not write checkpoint to %s: %s", directory, exc)
            return
        self.result.checkpoint_dir = directory
        self.hook.harness_checkpoint_saved(run=self.run, directory=directory, epoch=self.state.epoch)

    def _end(self, status: str, error: BaseException | None) -> None:
        """Collect the run's files, then call every plugin's run-end hook, each on its own.

        pluggy stops at the first implementation that raises; here one faulty plugin (a
        plot that cannot be written) must not keep the tracking plugin from closing its
        run, so a failure is logged and the next plugin still runs. A plugin that could
        not record a finished run makes the run's command fail afterwards.
        """
        self.result.status, self.result.error = status, error

        def report(plugin: str, exc: Exception) -> None:
            log.error("plugin %r failed at run end: %s: %s", plugin, type(exc).__name__, exc)

        produced = plugins.call_each("harness_run_artifacts", {"run": self.run, "result": self.result},
                                     pm=self.pm, on_error=report)
        for _, answers in produced:
            for paths in answers:
                self.result.artifacts.extend(Path(p) for p in paths or [])
        failures: list[tuple[str, Exception]] = []

        def record(plugin: str, exc: Exception) -> None:
            report(plugin, exc)
            failures.append((plugin, exc))

        plugins.call_each("harness_run_end", {"run": self.run, "status": status, "error": error, "result": self.result},
                          pm=self.pm, on_error=record)
        if failures and status == "FINISHED":
            plugin, exc = failures[0]
            raise TrackingError(f"the run finished but plugin {plugin!r} could not record it: {type(exc).__name__}: {exc}")


def _closure(model: Model, x: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    """The batch loss at the model's current weights: what a closure optimizer evaluates."""
    def loss() -> float:
        return float(model.evaluate(x, y)[0])
    return loss


def _overflow_probe(model: Model, x: np.ndarray) -> Callable[[], str | None]:
    """Where a forward pass with finite weights blew up: the first layer whose output on
    ``x`` is not finite (evaluation mode, so no state changes), or ``None``."""
    def probe() -> str | None:
        h = x
        with np.errstate(all="ignore"):
            for name, layer in zip(model.layer_names, model.layers):
                try:
                    h = layer.forward(h, False)
                except Exception:
                    return None
                if not np.isfinite(h).all():
                    return name
        return None
    return probe


def _epoch_line(epoch: int, epochs: int, m: dict[str, float]) -> str:
    val = f"val loss {m['val_loss']:.4f} acc {100 * m['val_accuracy']:.2f}%  " if "val_accuracy" in m else ""
    return (
        f"epoch {epoch + 1}/{epochs}  train loss {m['train_loss']:.4f} acc {100 * m['train_accuracy']:.2f}%  "
        f"{val}lr {m['lr']:.4g}  {m['epoch_seconds']:.2f}s ({m['samples_per_second']:,.0f} samples/s)"
    )
