"""The training loop: epochs of optimizer steps, validation, model selection, test.

Engine-agnostic: it sees a model (``train_batch`` / ``evaluate`` /
``named_parameters``), an optimizer, a schedule and index batches. Everything else a
run does (tracking, progress, diagnostics) happens in plugins called at the run-event
hooks. A run that started always ends through ``harness_run_end``, with status
FINISHED, FAILED or KILLED; a checkpoint is written every ``training.checkpoint_every``
epochs and when a signal stops the run, and a run resumed from one continues bit for bit.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np

from harness.data.splits import Splits
from harness.errors import DivergenceError
from harness.training import arrays, checkpoint
from harness.training.batching import epoch_batches, gather_rows, steps_per_epoch
from harness.training.evaluation import evaluate
from harness.training.interrupts import InterruptGuard, StopRequested
from harness.training.run import Run

log = logging.getLogger("harness.train")


class Trainer:
    """Fits one model on one set of splits and records the run."""

    def __init__(self, run: Run, model, optimizer, schedule, splits: Splits, hook,
                 shuffle_rng: np.random.Generator, data_rng: np.random.Generator):
        self.run = run
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule
        self.splits = splits
        self.hook = hook
        self.shuffle_rng = shuffle_rng
        self.data_rng = data_rng
        self.settings = run.config
        n_train = len(splits.train_y)
        self.batch_size = run.config.gd.batch_size_for(n_train)
        run.batch_size = self.batch_size
        run.steps_per_epoch = steps_per_epoch(n_train, self.batch_size)
        run.sizes = splits.sizes()
        run.model = model
        run.splits = splits
        self.base_lr = optimizer.lr
        self.state = checkpoint.TrainingState()
        self.guard = InterruptGuard()

    # ------------------------------------------------------------------ public

    def resume(self, directory: Path) -> None:
        """Continue from the checkpoint in ``directory`` instead of from scratch."""
        self.state = checkpoint.restore(
            directory, model=self.model, optimizer=self.optimizer,
            shuffle_rng=self.shuffle_rng, data_rng=self.data_rng,
        )
        self.run.history = self.state.history
        self.run.resumed = True
        log.info("resuming from %s: epoch %d, step %d", directory, self.state.epoch + 1, self.state.step)

    def fit(self) -> Run:
        """Train, select, test; the run-end hook is called whatever happens."""
        with self.guard:
            status, error = "FINISHED", None
            try:
                self.hook.harness_run_start(run=self.run)
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
            raise StopRequested(self.guard.requested, finished_run=self.run)
        return self.run

    # ---------------------------------------------------------------- training

    def _train(self) -> None:
        training = self.settings.training
        st = self.state
        while st.epoch < training.epochs:
            # From the epoch's first step until its bookkeeping is done (validation, history,
            # best weights, checkpoint), a signal waits: stopping in between would leave a
            # checkpoint in which the epoch is both counted and still to finish.
            self.guard.deferring = True
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported in one line instead
                metrics = self._epoch(st.epoch)
            st.history.append(metrics)
            self.run.history = st.history
            if metrics["val_accuracy"] > st.best_val_accuracy:
                st.best_val_accuracy, st.best_epoch = metrics["val_accuracy"], st.epoch
                if training.restore_best:
                    st.best_arrays = arrays.snapshot(self.model)
            st.epoch += 1
            st.batches_done = 0
            self.hook.harness_epoch_end(run=self.run, epoch=st.epoch - 1, metrics=metrics)
            log.info(_epoch_line(st.epoch - 1, training.epochs, metrics))
            if training.checkpoint_every and st.epoch % training.checkpoint_every == 0:
                self._save_checkpoint()
            self.guard.deferring = False
            self.guard.check()
            if self._out_of_time():
                log.info("time budget of %.0f s reached after %d epochs", training.max_seconds, st.epoch)
                self.run.summary["stopped_by"] = "max_seconds"
                break
            patience = training.early_stopping_patience
            if patience is not None and st.epoch - 1 - st.best_epoch >= patience:
                log.info("early stopping: no validation improvement for %d epochs", patience)
                self.run.summary["stopped_by"] = "early_stopping"
                break
        self.run.summary.update(
            train_seconds=st.train_seconds, epochs=len(st.history),
            best_epoch=st.best_epoch, best_val_accuracy=st.best_val_accuracy,
        )
        if st.best_arrays is not None and st.best_epoch != len(st.history) - 1:
            log.info("restoring the weights of epoch %d (best validation accuracy %.2f%%)", st.best_epoch + 1, 100 * st.best_val_accuracy)
            arrays.restore(self.model, st.best_arrays)

    def _epoch(self, epoch: int) -> dict[str, float]:
        st = self.state
        lr = self.schedule.lr(self.base_lr, epoch, self.settings.training.epochs)
        self.optimizer.lr = lr
        self.run.lr = lr
        if st.batches_done == 0:
            st.epoch_rng_state = self.shuffle_rng.bit_generator.state
            st.loss_sum, st.correct, st.epoch_seconds = 0.0, 0, 0.0
        else:  # resuming inside an epoch: replay its shuffle, skip the batches already done
            self.shuffle_rng.bit_generator.state = st.epoch_rng_state
        self.hook.harness_epoch_start(run=self.run, epoch=epoch)
        step_hook = self.hook.harness_step_end if self.hook.harness_step_end.get_hookimpls() else None
        x, y = self.splits.train_x, self.splits.train_y
        augment = self.splits.augment
        model, optimizer, guard = self.model, self.optimizer, self.guard
        params = model.named_parameters()
        budget = self.settings.training.max_seconds
        started = time.perf_counter()
        done_before = st.epoch_seconds
        batches = epoch_batches(len(y), self.batch_size, self.shuffle_rng, self.settings.gd.shuffle)
        batch_buffer = np.empty((self.batch_size, *x.shape[1:]), dtype=x.dtype) if self.batch_size < len(y) else None
        for i, index in enumerate(batches):
            if i < st.batches_done:
                continue
            xb, yb = gather_rows(x, index, batch_buffer), y[index]
            if augment is not None:
                xb = augment(xb, self.data_rng)
            loss, outputs = model.train_batch(xb, yb)
            if not math.isfinite(loss):
                raise _divergence(loss, params, st.step, epoch, lr, overflow=lambda: _first_overflow(model, xb))
            optimizer.step(params)
            st.step += 1
            st.batches_done = i + 1
            right = int(np.count_nonzero(outputs.argmax(axis=1) == yb))
            st.loss_sum += loss * len(yb)
            st.correct += right
            if step_hook is not None:
                step_hook(run=self.run, step=st.step, loss=loss, batch_size=len(yb), correct=right)
            st.epoch_seconds = done_before + time.perf_counter() - started
            guard.check()
            if budget is not None and st.train_seconds + st.epoch_seconds >= budget:
                break
        _check_weights(params, st.step, epoch, lr)
        seconds = st.epoch_seconds
        st.train_seconds += seconds
        seen = min(st.batches_done * self.batch_size, len(y))
        val_loss, val_acc, _ = evaluate(model, self.splits.val_x, self.splits.val_y, self.settings.training.eval_batch_size)
        return {
            "train_loss": st.loss_sum / seen,
            "train_accuracy": st.correct / seen,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "lr": lr,
            "epoch_seconds": seconds,
            "samples_per_second": seen / seconds if seconds > 0 else float("inf"),
        }

    def _out_of_time(self) -> bool:
        budget = self.settings.training.max_seconds
        return budget is not None and self.state.train_seconds >= budget

    def _test(self) -> None:
        loss, acc, predictions = evaluate(self.model, self.splits.test_x, self.splits.test_y, self.settings.training.eval_batch_size)
        self.run.summary.update(test_loss=loss, test_accuracy=acc)
        self.run.state["test_predictions"] = predictions
        log.info(
            "test accuracy %.2f%% (loss %.4f) after %d epochs, %.1f s of training",
            100 * acc, loss, self.run.summary["epochs"], self.run.summary["train_seconds"],
        )

    # ------------------------------------------------------------- checkpoints

    def _save_checkpoint(self, final: bool = False) -> None:
        if not self.settings.training.checkpoint_every and not final:
            return
        directory = self.run.output_dir / "checkpoint"
        try:
            checkpoint.save(
                directory, model=self.model, optimizer=self.optimizer, shuffle_rng=self.shuffle_rng,
                data_rng=self.data_rng, state=self.state, config_yaml=self.run.config_yaml, ids=self.run.ids,
            )
        except OSError as exc:
            log.error("could not write checkpoint to %s: %s", directory, exc)
            return
        self.run.state["checkpoint_dir"] = directory
        self.hook.harness_checkpoint_saved(run=self.run, directory=directory, epoch=self.state.epoch)

    def _end(self, status: str, error: BaseException | None) -> None:
        """Call every plugin's run-end hook, each on its own, in pluggy's order.

        pluggy stops at the first implementation that raises; here one faulty plugin
        (a plot that cannot be written) must not keep the tracking plugin from closing
        its run, so a failure is logged and the next plugin still runs.
        """
        for impl in reversed(self.hook.harness_run_end.get_hookimpls()):
            try:
                impl.function(run=self.run, status=status, error=error)
            except Exception as exc:
                log.error("plugin %r failed at run end: %s: %s", impl.plugin_name, type(exc).__name__, exc)


def _check_weights(params, steps_done: int, epoch: int, lr: float) -> None:
    """Once per epoch, before validation and checkpoints: the last update left finite weights.

    Within an epoch a non-finite update shows in the next loss; the epoch's last update
    has no next loss, so it is checked here, before anything is evaluated or saved.
    """
    for name, value, _ in params:
        if not np.isfinite(value).all():
            raise _divergence(float("nan"), params, steps_done, epoch, lr, last_of_epoch=True)


def _first_overflow(model, x: np.ndarray) -> str | None:
    """The first layer whose output on ``x`` is not finite (evaluation mode, so no state
    changes), or ``None``: where a forward pass with finite weights blew up."""
    h = x
    with np.errstate(all="ignore"):
        for name, layer in zip(getattr(model, "layer_names", ()), getattr(model, "layers", ())):
            try:
                h = layer.forward(h, False)
            except Exception:
                return None
            if not np.isfinite(h).all():
                return name
    return None


def _divergence(loss: float, params, steps_done: int, epoch: int, lr: float, last_of_epoch: bool = False,
                overflow=None) -> DivergenceError:
    """The one-line reason a run diverged, naming the first layer that went non-finite.

    Checked only once the loss is non-finite, so healthy steps pay nothing: a
    non-finite gradient (or an overflowing step) makes the weights it updates
    non-finite, and the very next forward pass turns the loss non-finite. Weights that
    are not finite now were finite one step ago (that step's loss was finite).
    """
    advice = f"lower optimizer.lr (now {lr:g}) or enable optimizer.clip_norm"
    for name, value, _ in params:
        if not np.isfinite(value).all():
            layer = name.rsplit(".", 1)[0]
            cause = f"the update of {name} (layer {layer}) at step {steps_done} was not finite (a non-finite gradient or an overflowing step)"
            if last_of_epoch:
                return DivergenceError(f"training diverged: {cause}, the last step of epoch {epoch + 1}; {advice}")
            return DivergenceError(
                f"training diverged: {cause}, so the loss at step {steps_done + 1} (epoch {epoch + 1}) is {loss}; {advice}"
            )
    layer = overflow() if overflow is not None else None
    where = f"; the weights are finite, the forward pass first overflows in layer {layer}" if layer else ""
    return DivergenceError(f"training diverged: loss is {loss} at step {steps_done + 1} (epoch {epoch + 1}){where}; {advice}")


def _epoch_line(epoch: int, epochs: int, m: dict[str, float]) -> str:
    return (
        f"epoch {epoch + 1}/{epochs}  train loss {m['train_loss']:.4f} acc {100 * m['train_accuracy']:.2f}%  "
        f"val loss {m['val_loss']:.4f} acc {100 * m['val_accuracy']:.2f}%  lr {m['lr']:.4g}  "
        f"{m['epoch_seconds']:.2f}s ({m['samples_per_second']:,.0f} samples/s)"
    )
