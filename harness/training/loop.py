"""The training loop: epochs of optimizer steps, validation, model selection, test.

Engine-agnostic: it sees a model (``train_batch`` / ``evaluate`` /
``named_parameters``), an optimizer, a schedule and index batches. Everything else a
run does (tracking, progress, diagnostics) happens in plugins called at the run-event
hooks. A run that started always ends through ``harness_run_end``, with status
FINISHED, FAILED or KILLED.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from harness.data.splits import Splits
from harness.errors import DivergenceError
from harness.training.batching import epoch_batches, steps_per_epoch
from harness.training.evaluation import evaluate
from harness.training.run import Run

log = logging.getLogger("harness.train")


class Trainer:
    """Fits one model on one set of splits and records the run."""

    def __init__(self, run: Run, model, optimizer, schedule, splits: Splits, hook, rng: np.random.Generator):
        self.run = run
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule
        self.splits = splits
        self.hook = hook
        self.rng = rng
        self.settings = run.config
        n_train = len(splits.train_y)
        self.batch_size = run.config.gd.batch_size_for(n_train)
        run.batch_size = self.batch_size
        run.steps_per_epoch = steps_per_epoch(n_train, self.batch_size)
        run.sizes = splits.sizes()
        run.model = model
        self.base_lr = optimizer.lr
        self.step = 0

    def fit(self) -> Run:
        """Train, select, test; the run-end hook is called whatever happens."""
        self.hook.harness_run_start(run=self.run)
        status, error = "FINISHED", None
        try:
            self._train()
            self._test()
        except KeyboardInterrupt as exc:
            status, error = "KILLED", exc
            raise
        except BaseException as exc:
            status, error = "FAILED", exc
            raise
        finally:
            self._end(status, error)
        return self.run

    # ---------------------------------------------------------------- training

    def _train(self) -> None:
        training = self.settings.training
        best_acc, best_epoch, best_params = -1.0, -1, None
        started = time.perf_counter()
        for epoch in range(training.epochs):
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below, in one line
                metrics = self._epoch(epoch)
            self.run.history.append(metrics)
            self.hook.harness_epoch_end(run=self.run, epoch=epoch, metrics=metrics)
            log.info(_epoch_line(epoch, training.epochs, metrics))
            if metrics["val_accuracy"] > best_acc:
                best_acc, best_epoch = metrics["val_accuracy"], epoch
                if training.restore_best:
                    best_params = [value.copy() for _, value, _ in self.model.named_parameters()]
            patience = training.early_stopping_patience
            if patience is not None and epoch - best_epoch >= patience:
                log.info("early stopping: no validation improvement for %d epochs", patience)
                break
        self.run.summary["train_seconds"] = time.perf_counter() - started
        self.run.summary["epochs"] = len(self.run.history)
        self.run.summary["best_epoch"] = best_epoch
        self.run.summary["best_val_accuracy"] = best_acc
        if best_params is not None and best_epoch != len(self.run.history) - 1:
            log.info("restoring the weights of epoch %d (best validation accuracy %.2f%%)", best_epoch + 1, 100 * best_acc)
            for (_, value, _), saved in zip(self.model.named_parameters(), best_params):
                np.copyto(value, saved)

    def _epoch(self, epoch: int) -> dict[str, float]:
        lr = self.schedule.lr(self.base_lr, epoch, self.settings.training.epochs)
        self.optimizer.lr = lr
        self.run.lr = lr
        self.hook.harness_epoch_start(run=self.run, epoch=epoch)
        step_hook = self.hook.harness_step_end if self.hook.harness_step_end.get_hookimpls() else None
        x, y = self.splits.train_x, self.splits.train_y
        model, optimizer = self.model, self.optimizer
        params = model.named_parameters()
        loss_sum, correct = 0.0, 0
        started = time.perf_counter()
        for index in epoch_batches(len(y), self.batch_size, self.rng, self.settings.gd.shuffle):
            xb, yb = x[index], y[index]
            loss, outputs = model.train_batch(xb, yb)
            if not math.isfinite(loss):
                raise DivergenceError(
                    f"training diverged: loss is {loss} at step {self.step + 1} (epoch {epoch + 1}); "
                    f"lower optimizer.lr (now {lr:g}) or enable optimizer.clip_norm"
                )
            optimizer.step(params)
            self.step += 1
            right = int(np.count_nonzero(outputs.argmax(axis=1) == yb))
            loss_sum += loss * len(yb)
            correct += right
            if step_hook is not None:
                step_hook(run=self.run, step=self.step, loss=loss, batch_size=len(yb), correct=right)
        seconds = time.perf_counter() - started
        val_loss, val_acc, _ = evaluate(model, self.splits.val_x, self.splits.val_y, self.settings.training.eval_batch_size)
        return {
            "train_loss": loss_sum / len(y),
            "train_accuracy": correct / len(y),
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "lr": lr,
            "epoch_seconds": seconds,
            "samples_per_second": len(y) / seconds if seconds > 0 else float("inf"),
        }

    def _test(self) -> None:
        loss, acc, predictions = evaluate(self.model, self.splits.test_x, self.splits.test_y, self.settings.training.eval_batch_size)
        self.run.summary.update(test_loss=loss, test_accuracy=acc)
        self.run.state["test_predictions"] = predictions
        log.info(
            "test accuracy %.2f%% (loss %.4f) after %d epochs, %.1f s of training",
            100 * acc, loss, self.run.summary["epochs"], self.run.summary["train_seconds"],
        )

    def _end(self, status: str, error: BaseException | None) -> None:
        try:
            self.hook.harness_run_end(run=self.run, status=status, error=error)
        except Exception:  # a faulty plugin must not hide the run's own outcome
            log.exception("a harness_run_end hook failed")


def _epoch_line(epoch: int, epochs: int, m: dict[str, float]) -> str:
    return (
        f"epoch {epoch + 1}/{epochs}  train loss {m['train_loss']:.4f} acc {100 * m['train_accuracy']:.2f}%  "
        f"val loss {m['val_loss']:.4f} acc {100 * m['val_accuracy']:.2f}%  lr {m['lr']:.4g}  "
        f"{m['epoch_seconds']:.2f}s ({m['samples_per_second']:,.0f} samples/s)"
    )
