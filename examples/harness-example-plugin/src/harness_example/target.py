"""Stop training once the validation accuracy reaches a target: a run-event hook.

Reads its own config section, ``target`` (``+target.val_accuracy=0.95``), declared to
the core and checked before anything is loaded; raises :class:`harness.StopTraining`
from ``harness_epoch_end`` when the target is met, which ends the run FINISHED.
"""

from __future__ import annotations

from harness import RunInfo, StopTraining, hookimpl
from harness import validation as v

SECTION = "target"


def val_accuracy_target(config) -> float | None:
    options = config.section(SECTION)
    unknown = sorted(set(options) - {"val_accuracy"})
    if unknown:
        v.fail(f"{SECTION}.{unknown[0]}", "not an option (accepted: val_accuracy)", options[unknown[0]])
    return v.optional(v.number, f"{SECTION}.val_accuracy", options.get("val_accuracy"), low=0, high=1, low_open=True)


@hookimpl
def harness_register_config_sections(register):
    register(SECTION, default={"val_accuracy": None})  # off unless `target.val_accuracy=0.95`


@hookimpl
def harness_validate_config(config):
    val_accuracy_target(config)


@hookimpl
def harness_epoch_end(run: RunInfo, epoch: int, metrics: dict[str, float]) -> None:
    target = val_accuracy_target(run.config)
    accuracy = metrics.get("val_accuracy")  # absent on the epochs training.val_every skips
    if target is not None and accuracy is not None and accuracy >= target:
        raise StopTraining(f"validation accuracy {accuracy:.3f} reached the target {target} after epoch {epoch + 1}")
